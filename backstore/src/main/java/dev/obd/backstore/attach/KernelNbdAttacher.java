package dev.obd.backstore.attach;

import dev.obd.backstore.nbd.NbdServer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The kernel nbd attach path: a unix socketpair whose one end the backstore serves (transmission
 * phase only) and whose other end is handed to the kernel with a netlink NBD_CMD_CONNECT. The
 * device is configured with a dead-connection timeout, so when the backstore dies the kernel holds
 * I/O; a restarted backstore hands it a new socket with NBD_CMD_RECONFIGURE and mounted filesystems
 * continue. Attribute and command numbers follow linux/nbd-netlink.h.
 */
public final class KernelNbdAttacher implements Attacher {
  private static final Logger LOG = Logger.getLogger(KernelNbdAttacher.class.getName());

  private static final int CMD_CONNECT = 1;
  private static final int CMD_DISCONNECT = 2;
  private static final int CMD_RECONFIGURE = 3;
  private static final int ATTR_INDEX = 1;
  private static final int ATTR_SIZE_BYTES = 2;
  private static final int ATTR_BLOCK_SIZE_BYTES = 3;
  private static final int ATTR_SERVER_FLAGS = 5;
  private static final int ATTR_SOCKETS = 7;
  private static final int ATTR_DEAD_CONN_TIMEOUT = 8;
  private static final int SOCK_ITEM = 1;
  private static final int SOCK_FD = 1;

  private final Duration deadConnectionTimeout;

  public KernelNbdAttacher(Duration deadConnectionTimeout) {
    this.deadConnectionTimeout = deadConnectionTimeout;
  }

  @Override
  public AttachMode mode() {
    return AttachMode.KERNEL_NBD;
  }

  @Override
  public Attachment attach(String id, NbdServer server, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    int[] pair = socketPair("attach nbd device for export " + server.export().name());
    int index;
    try (GenericNetlink nl = new GenericNetlink(timeoutSeconds(deadline))) {
      int family = family(nl);
      serve(server, pair[0], "attach nbd device");
      GenericNetlink.Attrs attrs =
          new GenericNetlink.Attrs()
              .u64(ATTR_SIZE_BYTES, server.export().disk().size())
              .u64(ATTR_BLOCK_SIZE_BYTES, server.export().blockSize())
              .u64(ATTR_SERVER_FLAGS, transmissionFlags(server))
              .u64(ATTR_DEAD_CONN_TIMEOUT, deadConnectionTimeout.toSeconds())
              .nested(ATTR_SOCKETS, sockets(pair[1]));
      List<Map<Integer, byte[]>> replies =
          nl.exchange(family, CMD_CONNECT, 1, attrs, "attach nbd device (NBD_CMD_CONNECT)");
      index =
          replies.stream()
              .map(r -> r.get(ATTR_INDEX))
              .filter(v -> v != null)
              .map(v -> ByteBuffer.wrap(v).order(ByteOrder.nativeOrder()).getInt())
              .findFirst()
              .orElseThrow(
                  () -> new AttachException("attach nbd device: the kernel sent no device index"));
    } finally {
      LibC.get().close(pair[1]); // the kernel holds its own reference now
    }
    String device = "/dev/nbd" + index;
    awaitSize(index, server.export().disk().size(), end);
    LOG.info(
        "attached "
            + device
            + " (kernel nbd, dead-connection timeout "
            + deadConnectionTimeout.toSeconds()
            + " s)");
    return new Attachment(AttachMode.KERNEL_NBD, device, index, "", 0);
  }

  @Override
  public Attachment reconnect(String id, Attachment previous, NbdServer server, Duration deadline)
      throws AttachException {
    int[] pair = socketPair("reconnect " + previous.device());
    try (GenericNetlink nl = new GenericNetlink(timeoutSeconds(deadline))) {
      int family = family(nl);
      serve(server, pair[0], "reconnect " + previous.device());
      GenericNetlink.Attrs attrs =
          new GenericNetlink.Attrs()
              .u32(ATTR_INDEX, previous.nbdIndex())
              .u64(ATTR_DEAD_CONN_TIMEOUT, deadConnectionTimeout.toSeconds())
              .nested(ATTR_SOCKETS, sockets(pair[1]));
      nl.exchange(
          family,
          CMD_RECONFIGURE,
          1,
          attrs,
          "reconnect " + previous.device() + " (NBD_CMD_RECONFIGURE)");
    } finally {
      LibC.get().close(pair[1]);
    }
    LOG.info("reconnected " + previous.device() + " to the restarted backstore");
    return previous;
  }

  @Override
  public void detach(Attachment a, Duration deadline) throws AttachException {
    if (!exists(a)) {
      return;
    }
    if (LoopDevices.inUse(a.device())) {
      throw new DeviceHeldException(a.device());
    }
    try (GenericNetlink nl = new GenericNetlink(timeoutSeconds(deadline))) {
      nl.exchange(
          family(nl),
          CMD_DISCONNECT,
          1,
          new GenericNetlink.Attrs().u32(ATTR_INDEX, a.nbdIndex()),
          "detach " + a.device() + " (NBD_CMD_DISCONNECT)");
    }
    long end = System.nanoTime() + deadline.toNanos();
    while (exists(a)) {
      if (System.nanoTime() > end) {
        throw new AttachException("detach " + a.device() + ": still connected after " + deadline);
      }
      Commands.sleep(10);
    }
  }

  @Override
  public boolean exists(Attachment a) {
    return sectors(a.nbdIndex()) > 0;
  }

  private static long sectors(int index) {
    try {
      return Long.parseLong(Files.readString(Path.of("/sys/block/nbd" + index + "/size")).trim());
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
  }

  private static void awaitSize(int index, long bytes, long end) throws AttachException {
    while (sectors(index) * 512 != bytes) {
      if (System.nanoTime() > end) {
        throw new AttachException(
            "attach /dev/nbd"
                + index
                + ": size not "
                + bytes
                + " before the deadline ("
                + sectors(index)
                + " sectors)");
      }
      Commands.sleep(5);
    }
  }

  private static int family(GenericNetlink nl) throws AttachException {
    int family = nl.familyId("nbd");
    if (family < 0) {
      throw new AttachException("the kernel has no nbd netlink family (nbd driver not loaded)");
    }
    return family;
  }

  private static long transmissionFlags(NbdServer server) {
    return server.export().transmissionFlags(); // the same flags the negotiation announces
  }

  private static GenericNetlink.Attrs sockets(int fd) {
    return new GenericNetlink.Attrs()
        .nested(SOCK_ITEM, new GenericNetlink.Attrs().u32(SOCK_FD, fd));
  }

  private static void serve(NbdServer server, int fd, String step) throws AttachException {
    try {
      server.serveConnected(fd);
    } catch (IOException e) {
      LibC.get().close(fd);
      throw new AttachException(step + ": " + e.getMessage(), e);
    }
  }

  private static int[] socketPair(String step) throws AttachException {
    int[] fds = new int[2];
    if (LibC.get().socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, fds) != 0) {
      throw new AttachException(step + ": socketpair: " + LibC.describeErrno(LibC.errno()));
    }
    return fds;
  }

  private static int timeoutSeconds(Duration d) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, d.toSeconds()));
  }
}
