package dev.obd.backstore.nbd;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads every NBD server of a process shares: a small epoll event-loop group for the sockets
 * and a bounded pool for disk I/O (reads may wait on the registry, so they never block an event
 * loop). Native epoll is required: unix sockets and the socketpair handed to the kernel need it.
 * The creator owns it and closes it after every server that uses it.
 */
public final class NbdTransport implements AutoCloseable {
  final EventLoopGroup group;
  final ExecutorService ioExecutor;

  private NbdTransport(EventLoopGroup group, ExecutorService ioExecutor) {
    this.group = group;
    this.ioExecutor = ioExecutor;
  }

  /**
   * Starts the threads.
   *
   * @param ioThreads how many disk requests run at once across all exports
   * @throws IllegalStateException if netty's native epoll transport cannot load (e.g. a noexec
   *     java.io.tmpdir)
   */
  public static NbdTransport start(int ioThreads) {
    if (!Epoll.isAvailable()) {
      throw new IllegalStateException(
          "start NBD transport: netty native epoll is unavailable: " + Epoll.unavailabilityCause());
    }
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(2, daemonThreads("nbd-io"), EpollIoHandler.newFactory());
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            ioThreads,
            ioThreads,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            daemonThreads("nbd-disk"));
    pool.allowCoreThreadTimeOut(true);
    return new NbdTransport(group, pool);
  }

  @Override
  public void close() {
    ioExecutor.shutdownNow();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }

  static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
