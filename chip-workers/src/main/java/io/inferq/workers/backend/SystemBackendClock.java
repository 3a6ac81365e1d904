package io.inferq.workers.backend;

import java.util.concurrent.TimeUnit;

enum SystemBackendClock implements BackendClock {
    INSTANCE;

    @Override
    public long epochMillis() {
        return System.currentTimeMillis();
    }

    @Override
    public long nanoTime() {
        return System.nanoTime();
    }

    @Override
    public void sleepNanos(long nanos) throws InterruptedException {
        if (nanos > 0) {
            TimeUnit.NANOSECONDS.sleep(nanos);
        }
    }
}
