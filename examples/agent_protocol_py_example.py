import asyncio, json, websockets

async def agent():
    async with websockets.connect("ws://localhost:8000/ws") as ws:
        await ws.send(json.dumps({"type": "register", "probe_id": "1-1"}))
        async for msg in ws:
            data = json.loads(msg)
            if data["type"] == "observe":
                action = {"action": "repair"} if data["hull"] < 0.5 else {"action": "survey"}
                await ws.send(json.dumps(action))

asyncio.run(agent())
