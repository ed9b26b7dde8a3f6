"""asyncio for the synchronous station: one event-loop thread (`loop.LoopThread`) and one OPC UA
server base (`opcua_server.CallbackServer`), shared by the PLC output, the station's own OPC UA server,
the process port, the telemetry sink and the twin server.

Every call into a loop waits at most `timeout_s`: a hung peer becomes a TimeoutError, never a hang.
"""
