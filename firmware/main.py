# main.py: stop any haptic output a reset left on (a DRV2605L keeps its RTP drive), then start
# the retrorun app unless the button is held (safe mode: REPL only, so a bad config or firmware
# can be fixed over USB). The app is imported only when it runs; one that cannot boot plays
# FAULT instead of resetting in a loop (retrofw.failsafe).
try:
    from retrofw import failsafe

    failsafe.haptic_safe()
except Exception as exc:  # noqa: BLE001  # nothing may keep the board from booting
    print("retrorun: haptic safe state:", exc)
from retrofw import failsafe, parts

if parts.safe_mode_requested():
    print("retrorun: safe mode (button held at boot); app not started")
else:
    parts = None  # the app unloads it after booting (its RAM is the app's)
    failsafe.start()
