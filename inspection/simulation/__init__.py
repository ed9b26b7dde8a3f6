"""What stands in for the line where no real peer runs here: the process twin (statistics, OPC UA
server, in-process port, camera, simulated line), the closed-loop simulation, PLC simulators speaking
real Modbus TCP / S7 / OPC UA, and the synthetic part renderers they need (`synthetic`).
"""
