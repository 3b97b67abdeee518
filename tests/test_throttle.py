"""Login throttling, pure."""

from warning.web.throttle import LoginThrottle


def test_free_attempts_then_growing_waits_and_reset_on_success():
    th = LoginThrottle(free=3, address_free=30, base=1, cap=8)
    t = 100.0
    for _ in range(3):
        assert th.wait("duty", "1.2.3.4", t) == 0
        th.failed("duty", "1.2.3.4", t)
    assert th.wait("duty", "1.2.3.4", t) == 1  # 4th attempt waits 1 s
    th.failed("duty", "1.2.3.4", t + 1)
    assert th.wait("duty", "1.2.3.4", t + 1) == 2
    for i in range(10):
        th.failed("duty", "1.2.3.4", t + 2 + i)
    assert th.wait("duty", "1.2.3.4", t + 11) <= 8  # capped
    assert th.wait("someone", "5.6.7.8", t + 11) == 0  # other keys are unaffected
    assert th.wait("someone", "1.2.3.4", t + 11) == 0  # a colleague behind the same NAT is not held up
    assert th.wait("duty", "9.9.9.9", t + 11) == 0  # nor the same officer from another desk
    th.succeeded("duty", "1.2.3.4")
    assert th.wait("duty", "1.2.3.4", t + 12) == 0


def test_address_ceiling_holds_a_guesser_trying_many_names():
    th = LoginThrottle(free=3, address_free=20, base=1, cap=8)
    for i in range(20):  # 20 names, one failure each: no pair reaches its 3
        assert th.wait(f"name{i}", "6.6.6.6", 0) == 0
        th.failed(f"name{i}", "6.6.6.6", 0)
    assert th.wait("name-new", "6.6.6.6", 0) == 1  # the address's ceiling
    assert th.wait("name-new", "7.7.7.7", 0) == 0


def test_counts_fade_and_memory_is_bounded():
    th = LoginThrottle(free=1, forget=60, max_keys=100)
    th.failed("a", "x", 0)
    th.failed("a", "x", 1)
    assert th.wait("a", "x", 2) > 0 and th.wait("a", "x", 100) == 0
    for i in range(1000):
        th.failed(f"user{i}", f"addr{i}", 0)
    assert len(th.fails) <= 100
    # one address flooding made-up names: the table stays bounded and keeps that address's ceiling
    th = LoginThrottle(free=3, address_free=10, max_keys=50)
    for i in range(100_000):
        th.failed(f"made-up-{i}", "6.6.6.6", 0)
    assert len(th.fails) <= 50 and th.wait("anyone", "6.6.6.6", 0) > 0


async def test_login_is_throttled_over_http(site, machine_db):
    import httpx

    from warning.server import Server, Settings

    srv = Server(site, Settings(port=0, database=machine_db))
    await srv.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as c:
            for _ in range(5):
                r = await c.post("/login", data={"username": "duty", "password": "guess"})
                assert r.status_code == 303 and "failed" in r.headers["location"]
            r = await c.post("/login", data={"username": "duty", "password": "duty-pass"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password waits
    finally:
        await srv.stop()
