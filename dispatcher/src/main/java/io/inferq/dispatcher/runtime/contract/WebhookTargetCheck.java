package io.inferq.dispatcher.runtime.contract;

/**
 * The submit-time check of a {@code webhook} URL. The server wires the HTTP API's policy
 * ({@code WebhookTargetPolicy#check} in the ingress module, which the dispatcher must not import), so both ways in
 * refuse the same targets. Implementations are thread-safe and never resolve DNS.
 */
@FunctionalInterface
public interface WebhookTargetCheck {
    /** Syntax only (the contract's own rules); for tests and tools without a policy. */
    WebhookTargetCheck ANY = url -> null;

    /** @return null when the URL is an acceptable webhook target, else why not (for {@code invalid_webhook}) */
    String problem(String url);
}
