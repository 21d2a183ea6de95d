"""The sensor service: formats stored as JSON lines, durable acks, crashes, a full disk."""

import json
import os
import shutil
import signal
import tempfile
import threading
import unittest

from netd_harness import (SCALE, LineReader, Netd, NetdTestCase, connect, poll_until,
                          read_until_closed, split_addr)


def sensor_config(data_file, **sensor):
    tables = {"daemon": {"threads": 2, "shutdown_grace": "3s"},
              "sensor": {"listen": ["127.0.0.1:0"], "data_file": data_file}}
    tables["sensor"].update(sensor)
    return tables


def records(path):
    """Every line of the data file, parsed; fails the test on a line that is not JSON."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        raise AssertionError(f"data file ends in a torn line: {data[-80:]!r}")
    for raw in data.splitlines():
        out.append(json.loads(raw))
    return out


class SensorTestCase(NetdTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="netd-sensor-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)  # 32 MiB of WAL each
        self.data = os.path.join(self.dir, "readings.jsonl")

    def start_sensor(self, **kw):
        start = {k: kw.pop(k) for k in ("max_file_bytes",) if k in kw}
        netd = Netd(self, sensor_config(self.data, **kw)).start(**start)
        netd.sensor_port = split_addr(netd.addrs["sensor"][0])[1]
        return netd


class SensorFormatsTest(SensorTestCase):
    def test_each_format_is_acked_and_stored_as_one_json_line(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            s.sendall(b'weather,room=lab temp=21.5,hum=40i 1700000000000000000\n'
                      b'temp=21.5 hum=40\n{"seq": 7, "v": 1.5}\nhello \xff world\n')
            replies = LineReader(s).lines(4)
        self.assertEqual(replies, [b"ack 1", b"ack 2", b"ack 3", b"ack 4"])
        recs = records(self.data)
        self.assertEqual([r["format"] for r in recs], ["influx", "kv", "json", "raw"])
        self.assertEqual([r["seq"] for r in recs], [1, 2, 3, 4])
        self.assertEqual(recs[0]["data"], {"measurement": "weather", "tags": {"room": "lab"},
                                           "fields": {"temp": 21.5, "hum": 40},
                                           "timestamp": 1700000000000000000})
        self.assertEqual(recs[1]["data"], {"temp": 21.5, "hum": 40})
        self.assertEqual(recs[2]["data"], {"seq": 7, "v": 1.5})
        self.assertEqual(recs[3]["raw"], "hello \u00ff world")
        self.assertEqual(recs[0]["peer"], s.peer)
        for r in recs:
            self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_bare_ping_is_answered_pong_and_not_stored(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            s.sendall(b"ping")  # the classic sensor client's first RTT probe: no newline
            self.assertEqual(s.recv(100), b"pong\n")
            s.sendall(b"temp=1")
            self.assertEqual(s.recv(100), b"ack 1\n")
        self.assertEqual(len(records(self.data)), 1)

    def test_over_long_reading_is_nacked_and_the_stream_goes_on(self):
        netd = self.start_sensor(max_line=64)
        with connect(netd.sensor_port) as s:
            s.sendall(b"a=1\n" + b"x" * 500 + b"\nb=2\n")
            replies = LineReader(s).lines(3)
        self.assertEqual(replies, [b"ack 1", b"nack 2 line too long", b"ack 3"])
        self.assertEqual([r["data"] for r in records(self.data)], [{"a": 1}, {"b": 2}])

    def test_line_just_over_max_line_does_not_swallow_the_next_reading(self):
        # Regression: a line of max_line+1 bytes fills the buffer exactly with its newline;
        # the reading after it was dropped with no reply, so later acks named the wrong line.
        netd = self.start_sensor(max_line=10)
        with connect(netd.sensor_port) as s:
            s.sendall(b"12345678901\nA=1\nB=2\n")
            replies = LineReader(s).lines(3)
        self.assertEqual(replies, [b"nack 1 line too long", b"ack 2", b"ack 3"])
        self.assertEqual([r["data"] for r in records(self.data)], [{"A": 1}, {"B": 2}])

    def test_classic_client_over_long_message_is_nacked_and_closed(self):
        # Each read is one classic message: the tail of a long one would pass for the next,
        # so netd nacks it and closes instead of guessing.
        netd = self.start_sensor(max_line=100)
        with connect(netd.sensor_port) as s:
            s.sendall(b"a=1")
            self.assertEqual(s.recv(100), b"ack 1\n")
            s.sendall(b"x" * 200)
            data, _ = read_until_closed(s)
        self.assertEqual(data, b"nack 2 line too long\n")
        self.assertEqual(netd.wait_event("conn_close", service="sensor")[0]["reason"],
                         "line too long")

    def test_classic_message_longer_than_the_first_buffer_is_one_reading(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            s.sendall(b"a=1")
            self.assertEqual(s.recv(100), b"ack 1\n")
            s.sendall(b"k=" + b"v" * 6000)
            self.assertEqual(LineReader(s).lines(1), [b"ack 2"])
        self.assertEqual(len(records(self.data)), 2)

    def test_conn_close_counts_readings_acks_gaps_duplicates_out_of_order(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            lines = [f'{{"seq":{n}}}\n'.encode() for n in (1, 2, 4, 4, 3, 6)]
            s.sendall(b"".join(lines))
            LineReader(s).lines(6)
        close = netd.wait_event("conn_close", service="sensor")[0]
        self.assertEqual((close["readings"], close["acks"], close["nacks"]), (6, 6, 0))
        # 5 never came: one gap; 4 twice: one duplicate; 3 after 4: out of order.
        self.assertEqual((close["gaps"], close["duplicates"], close["out_of_order"]), (1, 1, 1))

    def test_durability_write_acks_too(self):
        netd = self.start_sensor(durability="write")
        with connect(netd.sensor_port) as s:
            s.sendall(b"a=1\n")
            self.assertEqual(LineReader(s).lines(1), [b"ack 1"])
        self.assertEqual(len(records(self.data)), 1)


class SensorDurabilityTest(SensorTestCase):
    def stream(self, port, client_id, acked, stop):
        """Sends readings {"id": "<client>-<n>"} back to back, 32 in flight, and records
        every id that got its ack, until stop is set or the connection dies."""
        try:
            s = connect(port)
        except OSError:
            return
        reader = LineReader(s)
        sent, n = [], 0
        try:
            while not stop.is_set():
                batch = []
                for _ in range(32):
                    n += 1
                    batch.append(f"{client_id}-{n}")
                s.sendall(b"".join(f'{{"id":"{i}"}}\n'.encode() for i in batch))
                sent.extend(batch)
                for reply in reader.lines(len(batch), timeout=10):
                    parts = reply.split()
                    if parts[0] == b"ack":
                        acked.add(sent[int(parts[1]) - 1])
        except (OSError, AssertionError, IndexError):
            pass  # killed mid-stream: what was acked so far is what counts
        finally:
            s.close()

    def test_every_acked_reading_survives_sigkill(self):
        for attempt in range(3):
            with self.subTest(attempt=attempt):
                netd = self.start_sensor()
                acked, stop = set(), threading.Event()
                threads = [threading.Thread(target=self.stream,
                                            args=(netd.sensor_port, f"c{attempt}{i}", acked, stop))
                           for i in range(8)]
                for t in threads:
                    t.start()
                poll_until(lambda: len(acked) >= 2000, 20, "2000 acked readings")
                netd.proc.send_signal(signal.SIGKILL)  # mid-stream, no chance to clean up
                netd.proc.wait()
                stop.set()
                for t in threads:
                    t.join(10 * SCALE)
                # A restart repairs a torn last line, if the kill left one.
                again = self.start_sensor()
                stored = {r["data"]["id"] for r in records(self.data)}
                missing = acked - stored
                self.assertEqual(missing, set(), f"{len(missing)} acked readings lost")
                again.stop()

    def kill_mid_stream(self, prefix, count=2000):
        """Streams from 4 clients until `count` are acked, then SIGKILLs netd; the acked ids."""
        netd = self.start_sensor()
        acked, stop = set(), threading.Event()
        threads = [threading.Thread(target=self.stream,
                                    args=(netd.sensor_port, f"{prefix}{i}", acked, stop))
                   for i in range(4)]
        for t in threads:
            t.start()
        poll_until(lambda: len(acked) >= count, 20, f"{count} acked readings")
        netd.proc.send_signal(signal.SIGKILL)
        netd.proc.wait()
        stop.set()
        for t in threads:
            t.join(10 * SCALE)
        return acked

    def test_power_cut_acked_readings_come_back_from_the_write_ahead_log(self):
        acked = self.kill_mid_stream("p")
        # A power cut loses the data file's page cache (only the WAL is synced per batch): cut
        # the file mid-line, well before the last ack.
        with open(self.data, "r+b") as f:
            f.truncate(os.path.getsize(self.data) // 3 + 7)
        with open(self.data, "rb") as f:
            left = {json.loads(line)["data"]["id"] for line in f.read().splitlines()[:-1]}
        self.assertTrue(acked - left, "the cut took no acked reading")
        netd = self.start_sensor()
        ids = [r["data"]["id"] for r in records(self.data)]  # valid JSON lines, no torn one
        missing = acked - set(ids)
        self.assertEqual(missing, set(), f"{len(missing)} acked readings lost")
        self.assertEqual(len(ids), len(set(ids)), "a replayed reading is stored twice")
        recover = netd.wait_event("recover")[0]
        self.assertGreater(recover["records"], 0)
        self.assertGreater(recover["restored_bytes"], 0)
        # Replayed once: another crash right after the start replays nothing.
        netd.proc.send_signal(signal.SIGKILL)
        netd.proc.wait()
        again = self.start_sensor()
        with connect(again.sensor_port) as s:
            s.sendall(b"after=1\n")
            self.assertEqual(LineReader(s).lines(1), [b"ack 1"])
        self.assertEqual(again.events("recover"), [])
        self.assertEqual(len(records(self.data)), len(ids) + 1)
        self.assertEqual(again.stop(), 0)

    def test_clean_stop_leaves_nothing_to_replay(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            s.sendall(b"".join(f"n={n}\n".encode() for n in range(100)))
            self.assertEqual(len(LineReader(s).lines(100)), 100)
        self.assertEqual(netd.stop(), 0)
        self.assertEqual(os.path.getsize(self.data + ".wal"), 32 << 20)  # preallocated, kept
        again = self.start_sensor()
        with connect(again.sensor_port) as s:
            s.sendall(b"n=100\n")
            self.assertEqual(LineReader(s).lines(1), [b"ack 1"])
        self.assertEqual(again.events("recover"), [])
        self.assertEqual([r["data"]["n"] for r in records(self.data)], list(range(101)))

    def test_failing_wal_write_nacks_and_the_next_batch_starts_a_new_epoch(self):
        self.assertEqual(self.start_sensor().stop(), 0)  # leaves the 32 MiB WAL
        # Under RLIMIT_FSIZE the WAL's pwrite past 16 KiB fails (EFBIG) before the data file
        # reaches the limit: that batch is nacked and cut away, the log starts again at 0.
        netd = self.start_sensor(max_file_bytes=16384)
        acked, nacked = [], []
        with connect(netd.sensor_port) as s:
            reader = LineReader(s)
            for n in range(300):
                s.sendall(f'{{"n":{n}}}\n'.encode())
                reply = reader.lines(1)[0]
                (acked if reply.startswith(b"ack ") else nacked).append(n)
        self.assertTrue(nacked)
        first_nack = nacked[0]
        self.assertTrue([n for n in acked if n > first_nack], "no ack after the WAL failed")
        self.assertEqual([r["data"]["n"] for r in records(self.data)], acked)
        netd.proc.send_signal(signal.SIGKILL)
        netd.proc.wait()
        again = self.start_sensor()  # replays the new epoch's chain: the same bytes
        self.assertEqual([r["data"]["n"] for r in records(self.data)], acked)
        self.assertEqual(again.stop(), 0)

    def test_write_ahead_log_of_a_replaced_data_file_is_not_replayed(self):
        self.kill_mid_stream("r", count=300)
        os.rename(self.data, self.data + ".1")  # rotated while netd was down
        open(self.data, "wb").close()
        netd = self.start_sensor()
        recover = netd.wait_event("recover")[0]
        self.assertEqual(recover["records"], 0)
        self.assertGreater(recover["skipped_records"], 0)
        self.assertEqual(records(self.data), [])
        # The skipped log is kept aside (it may be the only copy of acked readings), holding
        # the killed run's readings; a new one took its place.
        kept = recover["kept_as"]
        self.assertTrue(kept.startswith(self.data + ".wal.") and kept.endswith(".skipped"), kept)
        with open(kept, "rb") as f:
            self.assertIn(b'"id":"r', f.read())
        self.assertEqual(os.path.getsize(self.data + ".wal"), 32 << 20)
        self.assertEqual(netd.stop(), 0)

    def test_sigterm_acks_what_is_in_flight_and_loses_nothing(self):
        netd = self.start_sensor()
        acked, stop = set(), threading.Event()
        threads = [threading.Thread(target=self.stream,
                                    args=(netd.sensor_port, f"t{i}", acked, stop))
                   for i in range(4)]
        for t in threads:
            t.start()
        poll_until(lambda: len(acked) >= 500, 20, "500 acked readings")
        self.assertEqual(netd.stop(), 0)
        stop.set()
        for t in threads:
            t.join(10 * SCALE)
        stored = {r["data"]["id"] for r in records(self.data)}
        self.assertEqual(acked - stored, set())

    def test_sigterm_delivers_the_verdict_on_every_batch_it_stored(self):
        # A connection whose readings are with the writer is held, neither read nor parked:
        # a graceful stop must still send it the acks of what was stored. Each reply is
        # counted as it arrives, so stored and acked must be the same set exactly.
        netd = self.start_sensor()
        acked, lock, started = set(), threading.Lock(), threading.Event()

        def client(name):
            s = connect(netd.sensor_port)
            reader = LineReader(s)
            sent, n = [], 0
            try:
                while True:
                    batch = [f"{name}-{n + i + 1}" for i in range(32)]
                    n += 32
                    s.sendall(b"".join(f'{{"id":"{i}"}}\n'.encode() for i in batch))
                    sent.extend(batch)
                    for _ in batch:
                        parts = reader.line(10).split()
                        if parts[0] == b"ack":
                            with lock:
                                acked.add(sent[int(parts[1]) - 1])
                    if n >= 320:
                        started.set()
            except (OSError, AssertionError):
                pass  # closed by the stop: what was acked so far is what counts
            finally:
                s.close()

        threads = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        self.assertTrue(started.wait(20 * SCALE), "clients did not get going")
        self.assertEqual(netd.stop(), 0)
        for t in threads:
            t.join(15 * SCALE)
        stored = {r["data"]["id"] for r in records(self.data)}
        self.assertEqual(acked - stored, set(), "acked but not stored")
        self.assertEqual(stored - acked, set(), "stored but its ack never reached the client")

    def test_torn_last_line_is_repaired_at_start(self):
        with open(self.data, "wb") as f:
            f.write(b'{"seq":1,"data":{"a":1}}\n{"seq":2,"da')
        netd = self.start_sensor()
        self.assertEqual(records(self.data), [{"seq": 1, "data": {"a": 1}}])
        repair = netd.wait_event("repair")[0]
        self.assertEqual(repair["dropped_bytes"], len(b'{"seq":2,"da'))
        with connect(netd.sensor_port) as s:
            s.sendall(b"b=2\n")
            self.assertEqual(LineReader(s).lines(1), [b"ack 1"])
        self.assertEqual(len(records(self.data)), 2)

    def test_full_disk_nacks_and_never_acks_what_is_not_stored(self):
        netd = self.start_sensor(max_file_bytes=8192)
        acks, nacks = 0, 0
        with connect(netd.sensor_port) as s:
            reader = LineReader(s)
            for n in range(200):  # ~100 bytes a record: the limit is hit well before the end
                s.sendall(f'{{"n":{n}}}\n'.encode())
                reply = reader.lines(1)[0]
                if reply.startswith(b"ack "):
                    self.assertEqual(nacks, 0, "an ack after a nack: the disk got space back?")
                    acks += 1
                else:
                    self.assertEqual(reply, f"nack {n + 1} file too large".encode())
                    nacks += 1
        self.assertGreater(acks, 0)
        self.assertGreater(nacks, 0)
        recs = records(self.data)  # no torn line either
        self.assertEqual([r["data"]["n"] for r in recs], list(range(acks)))
        netd.wait_event("error", what="store")

    def test_unusable_data_file_path_is_a_clean_start_error(self):
        tables = sensor_config(os.path.join(self.dir, "x" * 300, "readings.jsonl"))
        netd = Netd(self, tables).start(wait=False)
        self.assertEqual(netd.wait_exit(), 1)
        self.assertIn("[sensor]", netd.stderr())
        self.assertIn("File name too long", netd.stderr())

    def test_sigusr1_reopens_the_data_file(self):
        netd = self.start_sensor()
        with connect(netd.sensor_port) as s:
            reader = LineReader(s)
            s.sendall(b"a=1\n")
            reader.lines(1)
            os.rename(self.data, self.data + ".1")
            netd.send_signal(signal.SIGUSR1)
            netd.wait_event("reopen", what="data file")
            s.sendall(b"a=2\n")
            reader.lines(1)
        self.assertEqual([r["data"]["a"] for r in records(self.data + ".1")], [1])
        self.assertEqual([r["data"]["a"] for r in records(self.data)], [2])



class AllServicesTest(SensorTestCase):
    def test_three_services_on_port_0_each_get_their_own_port_and_answer(self):
        tables = sensor_config(self.data)
        tables["ping"] = {"listen": ["127.0.0.1:0"]}
        tables["ack"] = {"listen": ["127.0.0.1:0"]}
        netd = Netd(self, tables).start()
        ports = {name: split_addr(addrs[0])[1] for name, addrs in netd.addrs.items()}
        self.assertEqual(len(set(ports.values())), 3, ports)
        for name, request, reply in (("ping", b"ping\n", b"pong"), ("ack", b"hi\n", b"ACK 1 2"),
                                     ("sensor", b"a=1\n", b"ack 1")):
            with connect(ports[name]) as s:
                s.sendall(request)
                self.assertEqual(LineReader(s).lines(1), [reply], name)


if __name__ == "__main__":
    unittest.main()
