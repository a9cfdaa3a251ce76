"""The host side of the UART protocol: frames, payloads, the board's reference model, the serial
client."""
