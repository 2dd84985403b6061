"""A real collection at the top level of a REPL job is safe on the WASI virtual board: the job
loop's frames (device/_vbjobs.py) live on the scanned shadow stack, so the live heap can be
measured between jobs even with this build's collector, which cannot see WebAssembly locals."""

from app_helpers import Output

from retrorun.devtools.vboard.repl import AppDevice

COLLECT = "_vb.REAL_GC = True\ngc.collect()\n_vb.REAL_GC = False\n"


def _raw(device, out, code: str) -> str:
    out.take()
    device.on_data(code.encode() + b"\x04")
    assert device.wait_idle(60)
    return out.take().decode(errors="replace")


def test_sixty_collections_between_jobs_keep_the_board_sane_and_free_garbage(tmp_path):
    out = Output()
    device = AppDevice(tmp_path, out, runtime="wasi")
    try:
        assert device.wait_idle(20)
        device.on_data(b"\x01")
        assert device.wait_idle(10)
        _raw(device, out, "import _vb, gc\n"
                          "def churn(n):\n"
                          "    return sum(len(s) for s in [str(i) * 3 for i in range(n)])\n"
                          "keep = [bytes([i % 256]) * 40 for i in range(200)]\n")
        results = []
        for _ in range(60):
            got = _raw(device, out, "a = gc.mem_alloc()\n" + COLLECT
                       + "print(a, gc.mem_alloc(), churn(3000), sum(b[0] for b in keep))")
            results.append(got.split("\x04")[0].removeprefix("OK").split())
        sums = {tuple(r[2:]) for r in results}
        assert sums == {("32670", str(sum(i % 256 for i in range(200)) * 1))}
        before, after = int(results[-1][0]), int(results[-1][1])
        assert before - after > 50_000  # the previous churn's strings were collected
    finally:
        device.close()
