package io.inferq.workers.pool;

/** A pool configuration that cannot work; the message names the pool, the setting and why. */
final class InvalidPoolException extends IllegalArgumentException {
    InvalidPoolException(String message) {
        super(message);
    }

    InvalidPoolException(String message, Throwable cause) {
        super(message, cause);
    }
}
