#!/usr/bin/env python3
"""What open operator consoles cost an inferq process (issue 19: 10 consoles must cost < 2 % of a core).

Runs alternating windows against a running `serve` process: N "consoles" that poll GET /v1/console/overview
every PERIOD seconds exactly as the page does (with `since`), then none, and so on; for each window it reads the
process's CPU time from /proc/<pid>/stat (user + system) and prints the CPU used in % of one core. The cost of the
consoles is the mean of the polled windows minus the mean of the idle ones (both measured in this one run, since
absolute figures swing on shared machines). Also reports the CPU of the process's Vert.x event-loop threads, where
the console's handlers run, which is much less noisy than the whole process.

  python3 load-tests/scripts/console-cost.py --pid <inferq pid> --url http://127.0.0.1:8080 [--key <operator key>]
"""
import argparse
import json
import os
import threading
import time
import urllib.request

TICK = os.sysconf('SC_CLK_TCK')


def process_cpu(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def event_loop_cpu(pid):
    total = 0.0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/stat') as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index('(') + 1:raw.rindex(')')]
        if name.startswith('vert.x-eventloo'):
            fields = raw.rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def console(url, key, period, stop, counts):
    since = 0
    headers = {'Authorization': 'Bearer ' + key} if key else {}
    while not stop.is_set():
        started = time.monotonic()
        try:
            req = urllib.request.Request(f'{url}/v1/console/overview?since={since}', headers=headers)
            with urllib.request.urlopen(req, timeout=10) as r:
                body = json.load(r)
            samples = body['throughput']['samples']
            if samples:
                since = samples[-1]['t']
            counts['ok'] += 1
        except Exception as e:  # counted, the run goes on
            counts['errors'] += 1
            counts['last_error'] = str(e)
        stop.wait(max(0.0, period - (time.monotonic() - started)))


def window(pid, seconds, consoles, url, key, period):
    stop = threading.Event()
    counts = {'ok': 0, 'errors': 0}
    threads = [threading.Thread(target=console, args=(url, key, period, stop, counts), daemon=True) for _ in range(consoles)]
    cpu0, loop0, t0 = process_cpu(pid), event_loop_cpu(pid), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    cpu1, loop1, t1 = process_cpu(pid), event_loop_cpu(pid), time.monotonic()
    for t in threads:
        t.join()
    wall = t1 - t0
    return {'consoles': consoles, 'wall_s': round(wall, 1), 'cpu_pct_of_core': round(100 * (cpu1 - cpu0) / wall, 2),
            'event_loop_cpu_pct': round(100 * (loop1 - loop0) / wall, 3), 'requests': counts['ok'], 'errors': counts['errors']}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--pid', type=int, required=True)
    p.add_argument('--url', default='http://127.0.0.1:8080')
    p.add_argument('--key', default=None, help='operator or tenant key (none in open mode)')
    p.add_argument('--consoles', type=int, default=10)
    p.add_argument('--seconds', type=int, default=60)
    p.add_argument('--period', type=float, default=2.0)
    p.add_argument('--rounds', type=int, default=2, help='idle/polled window pairs')
    a = p.parse_args()
    results = []
    for r in range(a.rounds):
        for n in (0, a.consoles):
            w = window(a.pid, a.seconds, n, a.url, a.key, a.period)
            results.append(w)
            print(json.dumps(w), flush=True)
    idle = [w for w in results if w['consoles'] == 0]
    polled = [w for w in results if w['consoles'] > 0]
    mean = lambda ws, k: sum(w[k] for w in ws) / len(ws)
    print(json.dumps({
        'consoles': a.consoles, 'period_s': a.period, 'window_s': a.seconds, 'rounds': a.rounds,
        'idle_cpu_pct': round(mean(idle, 'cpu_pct_of_core'), 2), 'polled_cpu_pct': round(mean(polled, 'cpu_pct_of_core'), 2),
        'console_cost_cpu_pct': round(mean(polled, 'cpu_pct_of_core') - mean(idle, 'cpu_pct_of_core'), 2),
        'event_loop_idle_pct': round(mean(idle, 'event_loop_cpu_pct'), 3),
        'event_loop_polled_pct': round(mean(polled, 'event_loop_cpu_pct'), 3),
        'requests': sum(w['requests'] for w in polled), 'errors': sum(w['errors'] for w in polled)}))


if __name__ == '__main__':
    main()
