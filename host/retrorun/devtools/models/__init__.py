"""Host-side models of the chips (register maps, frame formats, timing) from their datasheets.

Drivers are tested against them and the virtual board wires them to the firmware."""
