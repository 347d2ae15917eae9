from helpers import agent, http, recv_type, register, running_daemon, send


async def test_agent_lockstep_smoke() -> None:
    async with running_daemon(mode="lockstep") as d:
        async with agent(d.port) as ws:
            reg = await register(ws)
            assert reg == {"type": "registered", "probe_id": "1-1", "shape": "reference"}
            ticks = []
            for _ in range(5):
                obs = await recv_type(ws, "observe")
                ticks.append(obs["tick"])
                await send(ws, {"action": "survey"})
            assert ticks == sorted(ticks)
        status, body = await http(d.port, "GET", "/api/status")
        assert status == 200 and body["tick"] >= 4
