# main.py: start the retrorun app unless the button is held (safe mode: REPL only, so a bad
# config or firmware can be fixed over USB). The app is imported only when it runs.
from retrofw import parts

if parts.safe_mode_requested():
    print("retrorun: safe mode (button held at boot); app not started")
else:
    parts = None  # the app unloads it after booting (its RAM is the app's)
    from retrofw import app

    app.start()
