package dev.obd.backstore.attach;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal generic-netlink client: one NETLINK_GENERIC socket, request/acknowledge exchanges,
 * family lookup by name, and attribute encoding (native byte order, 4-byte aligned). Not
 * thread-safe; one exchange at a time. Message layouts follow linux/netlink.h and genetlink.h.
 */
final class GenericNetlink implements AutoCloseable {
  private static final int NLMSG_ERROR = 2;
  private static final int NLMSG_DONE = 3;
  private static final int NLM_F_REQUEST = 1;
  private static final int NLM_F_ACK = 4;
  private static final int GENL_ID_CTRL = 0x10;
  private static final int CTRL_CMD_GETFAMILY = 3;
  private static final int CTRL_ATTR_FAMILY_ID = 1;
  private static final int CTRL_ATTR_FAMILY_NAME = 2;
  static final int NLA_F_NESTED = 1 << 15;
  private static final int SOL_SOCKET = 1;
  private static final int SO_RCVTIMEO = 20;

  private final LibC libc = LibC.get();
  private final int fd;
  private int seq = (int) (System.nanoTime() & 0xffff);

  GenericNetlink(int timeoutSeconds) throws AttachException {
    fd = libc.socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, LibC.NETLINK_GENERIC);
    if (fd < 0) {
      throw new AttachException("open generic netlink socket: " + LibC.describeErrno(LibC.errno()));
    }
    byte[] addr = new byte[12];
    addr[0] = (byte) LibC.AF_NETLINK;
    if (libc.bind(fd, addr, addr.length) != 0) {
      int e = LibC.errno();
      libc.close(fd);
      throw new AttachException("bind generic netlink socket: " + LibC.describeErrno(e));
    }
    // struct timeval {tv_sec, tv_usec} as two longs: receives never wait past the deadline.
    int[] tv = {timeoutSeconds, 0, 0, 0};
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
  }

  /** The id of the generic-netlink family {@code name}, or -1 if the kernel has none. */
  int familyId(String name) throws AttachException {
    Attrs a = new Attrs().string(CTRL_ATTR_FAMILY_NAME, name);
    List<Map<Integer, byte[]>> replies;
    try {
      replies = exchange(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, a, "resolve netlink family " + name);
    } catch (AttachException e) {
      if (e.getMessage().contains("errno 2)")) {
        return -1;
      }
      throw e;
    }
    for (Map<Integer, byte[]> r : replies) {
      byte[] id = r.get(CTRL_ATTR_FAMILY_ID);
      if (id != null) {
        return ByteBuffer.wrap(id).order(ByteOrder.nativeOrder()).getShort() & 0xffff;
      }
    }
    return -1;
  }

  /**
   * Sends one request and collects the attribute sets of the replies until the kernel's
   * acknowledgement.
   *
   * @throws AttachException naming {@code step} with the kernel's errno on a negative ack
   */
  List<Map<Integer, byte[]>> exchange(int family, int cmd, int version, Attrs attrs, String step)
      throws AttachException {
    byte[] payload = attrs.bytes();
    int len = 16 + 4 + payload.length;
    ByteBuffer msg = ByteBuffer.allocate(len).order(ByteOrder.nativeOrder());
    int mySeq = ++seq;
    msg.putInt(len).putShort((short) family).putShort((short) (NLM_F_REQUEST | NLM_F_ACK));
    msg.putInt(mySeq).putInt(0);
    msg.put((byte) cmd).put((byte) version).putShort((short) 0);
    msg.put(payload);
    if (libc.send(fd, msg.array(), len, 0) != len) {
      throw new AttachException(step + ": netlink send: " + LibC.describeErrno(LibC.errno()));
    }
    List<Map<Integer, byte[]>> replies = new ArrayList<>();
    byte[] buf = new byte[65536];
    while (true) {
      long n = libc.recv(fd, buf, buf.length, 0);
      if (n < 0) {
        throw new AttachException(step + ": netlink receive: " + LibC.describeErrno(LibC.errno()));
      }
      ByteBuffer in = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
      while (in.remaining() >= 16) {
        int start = in.position();
        int mlen = in.getInt();
        int type = in.getShort() & 0xffff;
        in.getShort();
        int rseq = in.getInt();
        in.getInt();
        if (mlen < 16 || start + mlen > n) {
          throw new AttachException(step + ": malformed netlink reply");
        }
        if (rseq == mySeq) {
          if (type == NLMSG_ERROR) {
            int error = in.getInt();
            if (error != 0) {
              throw new AttachException(step + ": kernel answered " + LibC.describeErrno(-error));
            }
            return replies;
          } else if (type == NLMSG_DONE) {
            return replies;
          } else {
            in.position(start + 16 + 4);
            replies.add(parseAttrs(in, start + mlen));
          }
        }
        in.position(start + align(mlen));
      }
    }
  }

  static Map<Integer, byte[]> parseAttrs(ByteBuffer in, int end) {
    Map<Integer, byte[]> out = new HashMap<>();
    while (in.position() + 4 <= end) {
      int start = in.position();
      int alen = in.getShort() & 0xffff;
      int type = in.getShort() & 0x3fff;
      if (alen < 4 || start + alen > end) {
        break;
      }
      byte[] v = new byte[alen - 4];
      in.get(v);
      out.put(type, v);
      in.position(Math.min(end, start + align(alen)));
    }
    return out;
  }

  static int align(int n) {
    return (n + 3) & ~3;
  }

  @Override
  public void close() {
    libc.close(fd);
  }

  /** Builder of a netlink attribute list. */
  static final class Attrs {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Attrs u32(int type, int value) {
      return raw(type, ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array());
    }

    Attrs u64(int type, long value) {
      return raw(
          type, ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(value).array());
    }

    Attrs string(int type, String value) {
      byte[] s = value.getBytes(StandardCharsets.UTF_8);
      byte[] z = new byte[s.length + 1];
      System.arraycopy(s, 0, z, 0, s.length);
      return raw(type, z);
    }

    Attrs nested(int type, Attrs inner) {
      return raw(type | NLA_F_NESTED, inner.bytes());
    }

    Attrs raw(int type, byte[] value) {
      int len = 4 + value.length;
      ByteBuffer h = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
      h.putShort((short) len).putShort((short) type);
      out.writeBytes(h.array());
      out.writeBytes(value);
      out.writeBytes(new byte[align(len) - len]);
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }
}
