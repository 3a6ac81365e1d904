package io.inferq.job;

import io.inferq.broker.avro.Lane;
import java.util.Locale;

/**
 * The two lanes of the queue. Interactive work always goes first; batch work fills capacity that
 * interactive work leaves idle.
 */
public enum JobLane {
    INTERACTIVE, BATCH;

    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public Lane toWire() {
        return Lane.valueOf(name());
    }

    public static JobLane fromWire(Lane lane) {
        return valueOf(lane.name());
    }
}
