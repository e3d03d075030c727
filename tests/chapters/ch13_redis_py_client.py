"""Chapter 13's tests, as a redis-py user: a Redis client nobody here wrote
talks to the server on 127.0.0.1:PORT (argv[1]) and checks what it gets.
Prints "ok" at the end; an assertion names what differed. Run by
tests/chapters/ch13_mini_redis_test.cpp against ch13_mini_redis and against
redis-server, which must both pass."""
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)

assert r.ping() is True
assert r.echo("hello") == b"hello"

# A pipeline of 10,000 commands: redis-py sends them in one go, then reads
# the 10,000 replies.
count = 10000
pipe = r.pipeline(transaction=False)
for i in range(count):
    pipe.set(f"key:{i}", i)
assert pipe.execute() == [True] * count
pipe = r.pipeline(transaction=False)
for i in range(count):
    pipe.get(f"key:{i}")
assert pipe.execute() == [str(i).encode() for i in range(count)]

assert r.mset({"a": "1", "b": "2"}) is True
assert r.mget("a", "b", "missing") == [b"1", b"2", None]
assert r.exists("a", "b", "missing") == 2
assert r.delete("a", "missing") == 1
assert r.incr("counter") == 1
assert r.incrby("counter", 41) == 42
assert r.decr("counter") == 41
assert r.set("only-new", "x", nx=True) is True
assert r.set("only-new", "y", nx=True) is None
assert r.set("only-old", "y", xx=True) is None
assert r.set("ttl", "x", ex=100) is True
assert r.ttl("ttl") == 100
assert 0 < r.pttl("ttl") <= 100000
assert r.expire("ttl", 50) is True
assert r.ttl("ttl") == 50

try:
    r.execute_command("GET")
    raise AssertionError("GET without a key was accepted")
except redis.ResponseError as error:
    assert str(error) == "wrong number of arguments for 'get' command", str(error)
try:
    r.incr("only-new")
    raise AssertionError("INCR of a non-number was accepted")
except redis.ResponseError as error:
    assert str(error) == "value is not an integer or out of range", str(error)

# Lists, and the error a command of the other type gets: a ResponseError
# whose text starts with the reply's first word, WRONGTYPE.
assert r.rpush("list", "a", "b", "c") == 3
assert r.lpush("list", "z") == 4
assert r.lrange("list", 0, -1) == [b"z", b"a", b"b", b"c"]
assert r.lpop("list") == b"z"
assert r.rpop("list", 2) == [b"c", b"b"]
assert r.llen("list") == 1
assert r.type("list") == b"list"
try:
    r.get("list")
    raise AssertionError("GET of a list was accepted")
except redis.ResponseError as error:
    assert str(error).startswith("WRONGTYPE Operation against a key holding"), str(error)

# Several subscribers on one channel, each with its own connection.
subscribers = [r.pubsub() for _ in range(3)]
for subscriber in subscribers:
    subscriber.subscribe("news")
    confirmation = subscriber.get_message(timeout=5)
    assert confirmation["type"] == "subscribe", confirmation
assert r.publish("news", "hello") == 3
for subscriber in subscribers:
    message = subscriber.get_message(timeout=5)
    assert message == {"type": "message", "pattern": None, "channel": b"news",
                       "data": b"hello"}, message
    subscriber.close()
print("ok")
