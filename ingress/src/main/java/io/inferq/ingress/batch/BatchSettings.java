package io.inferq.ingress.batch;

import java.time.Duration;

/**
 * Limits and timings of the Batch and Files APIs.
 *
 * @param completionWindow           how long a batch created with {@code completion_window: "24h"} may run before it
 *                                   expires (24 hours; shorter in tests)
 * @param maxLines                   most request lines in one input file (50,000, as OpenAI)
 * @param maxFileBytes               largest file (200 MB, as OpenAI)
 * @param maxErrors                  most validation errors listed in a failed batch's {@code errors.data}
 * @param tenantMaxStoredBytes       most bytes of files one tenant may store
 * @param tenantMaxBatchesInProgress most unfinished batches one tenant may have
 * @param tenantMaxLinesInProgress   most request lines one tenant's unfinished batches may hold
 * @param fileExpiry                 how long a file is kept when its upload or batch names no expiry
 */
public record BatchSettings(Duration completionWindow, int maxLines, long maxFileBytes, int maxErrors, long tenantMaxStoredBytes,
        int tenantMaxBatchesInProgress, long tenantMaxLinesInProgress, Duration fileExpiry) {
    public BatchSettings {
        require(completionWindow != null && !completionWindow.isNegative() && !completionWindow.isZero(),
                "batches.completion-window-seconds must be positive");
        require(maxLines >= 1, "batches.max-lines must be at least 1, was " + maxLines);
        require(maxFileBytes >= 1024, "batches.max-file-bytes must be at least 1024, was " + maxFileBytes);
        require(maxErrors >= 1, "batches.max-errors must be at least 1, was " + maxErrors);
        require(tenantMaxStoredBytes >= maxFileBytes, "batches.tenant-max-stored-bytes must be at least batches.max-file-bytes");
        require(tenantMaxBatchesInProgress >= 1, "batches.tenant-max-batches-in-progress must be at least 1");
        require(tenantMaxLinesInProgress >= 1, "batches.tenant-max-lines-in-progress must be at least 1");
        require(fileExpiry != null && fileExpiry.toSeconds() >= 60, "batches.file-expiry-days must be positive");
    }

    /** OpenAI's limits: a 24 h window, 50,000 lines, 200 MB; 1,000 listed errors. */
    public static BatchSettings defaults() {
        return new BatchSettings(Duration.ofHours(24), 50_000, 200L * 1000 * 1000, 1000, 10L * 1024 * 1024 * 1024, 100, 1_000_000,
                Duration.ofDays(30));
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
