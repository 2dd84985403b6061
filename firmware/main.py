# main.py: start the retrorun app unless the button is held (safe mode: REPL only, so a bad
# config or firmware can be fixed over USB).
from retrofw import app

if app.safe_mode_requested():
    print("retrorun: safe mode (button held at boot); app not started")
else:
    app.start()
