package io.inferq.broker.embedded;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.requests.TransactionResult;
import org.apache.kafka.common.requests.WriteTxnMarkersRequest;
import org.apache.kafka.common.requests.WriteTxnMarkersResponse;

/**
 * Writes a <em>commit</em> marker for one producer's open transaction on one partition, as the transaction coordinator
 * does when it completes a commit. Kafka's Admin API can only write abort markers ({@code Admin.abortTransaction}); a
 * transaction the coordinator has recorded as committed ({@code CompleteCommit}) but whose marker never reached a
 * partition must be committed there too, or the part of it on that partition is lost while the rest (e.g. the consumed
 * offsets in {@code __consumer_offsets}) stays committed.
 *
 * <p>Sends one {@code WriteTxnMarkers} request (the broker-to-broker API the coordinator uses, with the same fields
 * as the Admin API's abort: the open transaction's producer id, epoch and coordinator epoch) over a plain blocking
 * connection to the partition's leader. For the embedded broker only: PLAINTEXT, no authentication. Blocking; not for
 * an event loop.
 */
final class CommitMarkers {
    private static final String CLIENT_ID = "inferq-embedded-txn-check";
    private final InetSocketAddress leader;
    private final int timeoutMs;
    private int correlationId;

    /**
     * @param leader    the broker that leads the partitions (the embedded broker's PLAINTEXT listener)
     * @param timeoutMs connect and read timeout
     */
    CommitMarkers(InetSocketAddress leader, int timeoutMs) {
        this.leader = leader;
        this.timeoutMs = timeoutMs;
    }

    /**
     * Commits the open transaction of {@code producerId} at {@code producerEpoch} on {@code partition}.
     *
     * @return the partition's error ({@link Errors#NONE} when the marker was written)
     * @throws IOException when the broker cannot be reached or answers something unreadable
     */
    Errors commit(TopicPartition partition, long producerId, short producerEpoch, int coordinatorEpoch) throws IOException {
        short version = ApiKeys.WRITE_TXN_MARKERS.latestVersion();
        WriteTxnMarkersRequest request = new WriteTxnMarkersRequest.Builder(List.of(new WriteTxnMarkersRequest.TxnMarkerEntry(
                producerId, producerEpoch, coordinatorEpoch, TransactionResult.COMMIT, List.of(partition), (short) 0)))
                .build(version);
        RequestHeader header = new RequestHeader(ApiKeys.WRITE_TXN_MARKERS, version, CLIENT_ID, ++correlationId);
        ByteBuffer out = request.serializeWithHeader(header);
        try (Socket socket = new Socket()) {
            socket.connect(leader, timeoutMs);
            socket.setSoTimeout(timeoutMs);
            DataOutputStream send = new DataOutputStream(socket.getOutputStream());
            byte[] bytes = new byte[out.remaining()];
            out.get(bytes);
            send.writeInt(bytes.length);
            send.write(bytes);
            send.flush();
            DataInputStream receive = new DataInputStream(socket.getInputStream());
            int size = receive.readInt();
            if (size <= 0 || size > 1 << 20) {
                throw new IOException("WriteTxnMarkers: a response of " + size + " bytes from " + leader);
            }
            byte[] in = new byte[size];
            receive.readFully(in);
            AbstractResponse response = AbstractResponse.parseResponse(ByteBuffer.wrap(in), header);
            Map<Long, Map<TopicPartition, Errors>> errors = ((WriteTxnMarkersResponse) response).errorsByProducerId();
            Errors e = errors.getOrDefault(producerId, Map.of()).get(partition);
            if (e == null) {
                throw new IOException("WriteTxnMarkers: no answer for " + partition + " of producer " + producerId);
            }
            return e;
        } catch (RuntimeException e) {
            throw new IOException("WriteTxnMarkers to " + leader + " failed: " + e, e);
        }
    }
}
