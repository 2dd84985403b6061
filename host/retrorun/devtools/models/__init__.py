"""Host-side models of the chips (register maps, frame formats, timing) from their datasheets.

Drivers are tested against them and the virtual board wires them to the firmware. Each model
has its own transcription of the datasheet facts it needs and imports nothing from `retrofw`:
a misreading in a driver then shows up as a disagreement with its model instead of passing
silently on both sides."""
