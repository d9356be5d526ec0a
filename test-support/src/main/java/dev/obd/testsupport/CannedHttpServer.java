package dev.obd.testsupport;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An HTTP/1.1 server on a unix socket that answers every request with the same status and JSON
 * body, and records the request lines: a stand-in for a daemon's control API in tests of its
 * clients. One connection at a time; the answer closes it. Close it to stop it.
 */
public final class CannedHttpServer implements AutoCloseable {
  private final ServerSocketChannel server;
  private final Path socket;
  private final List<String> requests = new CopyOnWriteArrayList<>();
  private volatile String answer;

  private CannedHttpServer(ServerSocketChannel server, Path socket) {
    this.server = server;
    this.socket = socket;
  }

  /** Listens on {@code socket}, answering {@code status} with {@code json} until changed. */
  public static CannedHttpServer start(Path socket, int status, String json) throws IOException {
    ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    ch.bind(UnixDomainSocketAddress.of(socket));
    CannedHttpServer s = new CannedHttpServer(ch, socket);
    s.answer(status, json);
    Thread t = new Thread(s::serve, "canned-http " + socket.getFileName());
    t.setDaemon(true);
    t.start();
    return s;
  }

  /** Answers later requests with {@code status} and {@code json}. */
  public void answer(int status, String json) {
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    answer =
        "HTTP/1.1 "
            + status
            + " Canned\r\nContent-Type: application/json\r\nContent-Length: "
            + body.length
            + "\r\nConnection: close\r\n\r\n"
            + json;
  }

  /** The request lines received so far, e.g. {@code "DELETE /v1/devices?key=x HTTP/1.1"}. */
  public List<String> requests() {
    return List.copyOf(requests);
  }

  private void serve() {
    while (server.isOpen()) {
      try (SocketChannel c = server.accept()) {
        ByteBuffer in = ByteBuffer.allocate(1 << 16);
        String head = "";
        while (!head.contains("\r\n\r\n") && c.read(in) >= 0) {
          head = new String(in.array(), 0, in.position(), StandardCharsets.ISO_8859_1);
        }
        requests.add(head.substring(0, Math.max(0, head.indexOf("\r\n"))));
        ByteBuffer out = ByteBuffer.wrap(answer.getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
          c.write(out);
        }
      } catch (IOException e) {
        // closed, or a client went away: the next accept tells which
      }
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    Files.deleteIfExists(socket);
  }
}
