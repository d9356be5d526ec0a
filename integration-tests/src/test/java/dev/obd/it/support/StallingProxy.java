package dev.obd.it.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy on 127.0.0.1 in front of a server on this machine (a registry), which can be told to
 * stall: from then on, bytes that clients send are held and not forwarded until {@link #release},
 * so every request made meanwhile waits, as behind a network that stopped delivering. {@link
 * #close} closes every connection and the listener. Its threads are daemons.
 */
public final class StallingProxy implements AutoCloseable {
  private final ServerSocket listener;
  private final int targetPort;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicInteger heldRequests = new AtomicInteger();
  private volatile CountDownLatch stall = new CountDownLatch(0);

  private StallingProxy(ServerSocket listener, int targetPort) {
    this.listener = listener;
    this.targetPort = targetPort;
  }

  /** Starts a proxy to {@code 127.0.0.1:targetPort}. */
  public static StallingProxy start(int targetPort) throws IOException {
    ServerSocket listener = new ServerSocket();
    listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    StallingProxy p = new StallingProxy(listener, targetPort);
    Thread t = new Thread(p::accept, "stalling-proxy-accept");
    t.setDaemon(true);
    t.start();
    return p;
  }

  /** {@code 127.0.0.1:<port>}, the host part of image references through the proxy. */
  public String host() {
    return "127.0.0.1:" + listener.getLocalPort();
  }

  /** Holds what clients send from now on. */
  public void stall() {
    stall = new CountDownLatch(1);
  }

  /** Forwards what was held and everything after. */
  public void release() {
    stall.countDown();
  }

  /** How many times a client's bytes arrived and were held since the proxy started. */
  public int heldRequests() {
    return heldRequests.get();
  }

  private void accept() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(InetAddress.getLoopbackAddress(), targetPort);
        sockets.add(client);
        sockets.add(server);
        pump(client, server, true);
        pump(server, client, false);
      } catch (IOException e) {
        if (!listener.isClosed()) {
          System.err.println("stalling proxy: " + e);
        }
      }
    }
  }

  private void pump(Socket from, Socket to, boolean requests) {
    Thread t =
        new Thread(
            () -> {
              byte[] buf = new byte[64 * 1024];
              try (InputStream in = from.getInputStream();
                  OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buf)) >= 0; ) {
                  CountDownLatch s = stall;
                  if (requests && s.getCount() > 0) {
                    heldRequests.incrementAndGet();
                    while (!s.await(100, TimeUnit.MILLISECONDS)) {
                      if (from.isClosed()) {
                        return;
                      }
                    }
                  }
                  out.write(buf, 0, n);
                  out.flush();
                }
              } catch (IOException | InterruptedException closed) {
                // either side went away: the other is closed with this pump
              } finally {
                closeQuietly(from);
                closeQuietly(to);
              }
            },
            "stalling-proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException alreadyClosed) {
      // nothing left to release
    }
  }

  @Override
  public void close() throws IOException {
    release();
    listener.close();
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
