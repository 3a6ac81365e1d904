package io.inferq.kvcache.tokens;

import java.util.Objects;

/**
 * One chat message. Immutable.
 *
 * @param role    {@code system}, {@code user}, {@code assistant}, {@code tool} or another lower-case role name
 * @param content the message text (may be empty, never null)
 */
public record ChatMessage(String role, String content) {

    public ChatMessage {
        Objects.requireNonNull(role, "role must not be null");
        Objects.requireNonNull(content, "content must not be null");
        if (role.isEmpty() || !role.chars().allMatch(c -> (c >= 'a' && c <= 'z') || c == '_' || c == '-')) {
            throw new IllegalArgumentException("role must be non-empty lower-case [a-z_-], was '" + role + "'");
        }
    }
}
