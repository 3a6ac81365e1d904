package io.inferq.ingress.webhooks;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Locale;

/**
 * Which IP addresses a webhook may not reach, and CIDR parsing for the allowlist. Pure functions on
 * literal addresses: nothing here resolves DNS. Thread-safe.
 */
final class AddressRules {
    /** Cloud metadata endpoints: refused even when private targets are allowed, unless allowlisted. */
    static final List<String> METADATA_HOSTS = List.of("metadata.google.internal", "metadata", "instance-data",
            "metadata.azure.internal");

    private static final List<Cidr> METADATA_ADDRESSES = List.of(
            Cidr.parse("169.254.169.254/32"), Cidr.parse("fd00:ec2::254/128"), Cidr.parse("100.100.100.200/32"));

    /** Blocked ranges with the reason given to the user. Order matters only for the message. */
    private static final List<Named> BLOCKED = List.of(
            new Named(Cidr.parse("0.0.0.0/8"), "an unspecified (0.0.0.0/8) address"),
            new Named(Cidr.parse("127.0.0.0/8"), "a loopback address"),
            new Named(Cidr.parse("10.0.0.0/8"), "a private (10/8) address"),
            new Named(Cidr.parse("172.16.0.0/12"), "a private (172.16/12) address"),
            new Named(Cidr.parse("192.168.0.0/16"), "a private (192.168/16) address"),
            new Named(Cidr.parse("100.64.0.0/10"), "a carrier-grade NAT (100.64/10) address"),
            new Named(Cidr.parse("169.254.0.0/16"), "a link-local (169.254/16) address"),
            new Named(Cidr.parse("192.0.0.0/24"), "an IETF protocol (192.0.0/24) address"),
            new Named(Cidr.parse("198.18.0.0/15"), "a benchmarking (198.18/15) address"),
            new Named(Cidr.parse("224.0.0.0/4"), "a multicast address"),
            new Named(Cidr.parse("240.0.0.0/4"), "a reserved (240/4) or broadcast address"),
            new Named(Cidr.parse("::/128"), "an unspecified (::) address"),
            new Named(Cidr.parse("::1/128"), "a loopback address"),
            new Named(Cidr.parse("fc00::/7"), "a private (fc00::/7) address"),
            new Named(Cidr.parse("fe80::/10"), "a link-local (fe80::/10) address"),
            new Named(Cidr.parse("fec0::/10"), "a site-local (fec0::/10) address"),
            new Named(Cidr.parse("ff00::/8"), "a multicast address"),
            // forms whose IPv4 address cannot be read off the address alone: refused whole
            new Named(Cidr.parse("64:ff9b:1::/48"), "a local-use NAT64 (64:ff9b:1::/48) address"),
            new Named(Cidr.parse("2001::/32"), "a Teredo (2001::/32) address"));

    private AddressRules() {
    }

    /** @return why this address is not a public unicast address, or null when it is */
    static String nonPublicReason(InetAddress address) {
        InetAddress a = unmapped(address);
        for (Named n : BLOCKED) {
            if (n.cidr.contains(a)) {
                return n.reason;
            }
        }
        return null;
    }

    /** @return whether the address is a cloud metadata endpoint */
    static boolean isMetadata(InetAddress address) {
        InetAddress a = unmapped(address);
        return METADATA_ADDRESSES.stream().anyMatch(c -> c.contains(a));
    }

    static boolean isMetadataHost(String host) {
        String h = normalHost(host);
        return METADATA_HOSTS.contains(h);
    }

    /** @return whether the host name can only mean this machine ({@code localhost}, {@code *.localhost}) */
    static boolean isLocalName(String host) {
        String h = normalHost(host);
        return h.equals("localhost") || h.endsWith(".localhost") || h.equals("localhost.localdomain");
    }

    static String normalHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        return h;
    }

    /**
     * @return the address when {@code host} is an IPv4 dotted quad or an IPv6 literal, else null. Never resolves:
     * the text is checked to be a literal before {@link InetAddress#getByName} is called.
     */
    static InetAddress literal(String host) {
        String h = normalHost(host);
        if (h.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}")) {
            for (String part : h.split("\\.")) {
                if (Integer.parseInt(part) > 255) {
                    return null;
                }
            }
        } else if (!(h.contains(":") && h.matches("[0-9a-f:.%a-z]+"))) {
            return null;
        }
        try {
            return InetAddress.getByName(h); // a literal: parsed, not looked up
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** @return null when the allowlist entry is a host name, an IP literal or a CIDR, else why not */
    static String allowlistEntryProblem(String entry) {
        if (entry == null || entry.isBlank()) {
            return "an entry must not be blank";
        }
        if (entry.contains("/")) {
            try {
                Cidr.parse(entry);
                return null;
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        }
        if (literal(entry) != null || normalHost(entry).matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")) {
            return null;
        }
        return "'" + entry + "' is neither a host name, an IP address nor a CIDR";
    }

    private static final Cidr NAT64 = Cidr.parse("64:ff9b::/96");
    private static final Cidr SIX_TO_FOUR = Cidr.parse("2002::/16");
    private static final Cidr IPV4_COMPATIBLE = Cidr.parse("::/96");

    /**
     * An IPv6 address that carries an IPv4 address is checked as that IPv4 address, since that is where a packet to
     * it ends up: IPv4-mapped ({@code ::ffff:10.0.0.1}), NAT64 ({@code 64:ff9b::/96}, RFC 6052), 6to4
     * ({@code 2002::/16}, the IPv4 address in bits 16-47) and IPv4-compatible ({@code ::10.0.0.1}; {@code ::} and
     * {@code ::1} stay themselves).
     */
    private static InetAddress unmapped(InetAddress a) {
        if (a instanceof Inet6Address) {
            byte[] b = a.getAddress();
            boolean mapped = true;
            for (int i = 0; i < 10; i++) {
                mapped &= b[i] == 0;
            }
            mapped &= (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff;
            if (mapped || NAT64.contains(a)) {
                return v4(b[12], b[13], b[14], b[15]);
            }
            if (SIX_TO_FOUR.contains(a)) {
                return v4(b[2], b[3], b[4], b[5]);
            }
            if (IPV4_COMPATIBLE.contains(a) && ((b[12] | b[13] | b[14]) != 0 || (b[15] & 0xff) > 1)) {
                return v4(b[12], b[13], b[14], b[15]);
            }
        }
        return a;
    }

    private static InetAddress v4(byte a, byte b, byte c, byte d) {
        try {
            return InetAddress.getByAddress(new byte[] {a, b, c, d});
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private record Named(Cidr cidr, String reason) {
    }

    /** An IPv4 or IPv6 prefix. */
    record Cidr(byte[] network, int prefix) {
        static Cidr parse(String text) {
            int slash = text.indexOf('/');
            if (slash < 0) {
                throw new IllegalArgumentException("'" + text + "' is not a CIDR (address/prefix)");
            }
            InetAddress a = literal(text.substring(0, slash));
            if (a == null) {
                throw new IllegalArgumentException("'" + text + "' does not start with an IP address");
            }
            int prefix;
            try {
                prefix = Integer.parseInt(text.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "' has no numeric prefix length");
            }
            int bits = a.getAddress().length * 8;
            if (prefix < 0 || prefix > bits) {
                throw new IllegalArgumentException("'" + text + "' prefix length must be 0-" + bits);
            }
            return new Cidr(a.getAddress(), prefix);
        }

        boolean contains(InetAddress address) {
            byte[] b = address.getAddress();
            if (b.length != network.length) {
                return false;
            }
            int full = prefix / 8;
            for (int i = 0; i < full; i++) {
                if (b[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (b[full] & mask) == (network[full] & mask);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Cidr c && c.prefix == prefix && java.util.Arrays.equals(c.network, network);
        }

        @Override
        public int hashCode() {
            return 31 * java.util.Arrays.hashCode(network) + prefix;
        }

        @Override
        public String toString() {
            try {
                return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
            } catch (UnknownHostException e) {
                return "?/" + prefix;
            }
        }
    }
}
