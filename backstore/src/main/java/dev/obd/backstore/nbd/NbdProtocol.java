package dev.obd.backstore.nbd;

/**
 * Numbers of the NBD protocol (fixed newstyle negotiation, transmission, structured replies) as the
 * protocol document of the NBD project defines them. Only what this server speaks is here.
 */
final class NbdProtocol {
  private NbdProtocol() {}

  static final long NBDMAGIC = 0x4e42444d41474943L;
  static final long IHAVEOPT = 0x49484156454F5054L;
  static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;

  // handshake flags (server) and client flags
  static final int FLAG_FIXED_NEWSTYLE = 1;
  static final int FLAG_NO_ZEROES = 1 << 1;
  static final int CLIENT_FIXED_NEWSTYLE = 1;
  static final int CLIENT_NO_ZEROES = 1 << 1;

  // options
  static final int OPT_EXPORT_NAME = 1;
  static final int OPT_ABORT = 2;
  static final int OPT_LIST = 3;
  static final int OPT_STARTTLS = 5;
  static final int OPT_INFO = 6;
  static final int OPT_GO = 7;
  static final int OPT_STRUCTURED_REPLY = 8;

  // option replies
  static final int REP_ACK = 1;
  static final int REP_SERVER = 2;
  static final int REP_INFO = 3;
  static final int REP_ERR_UNSUP = (1 << 31) | 1;
  static final int REP_ERR_POLICY = (1 << 31) | 2;
  static final int REP_ERR_INVALID = (1 << 31) | 3;
  static final int REP_ERR_UNKNOWN = (1 << 31) | 6;

  // info types
  static final int INFO_EXPORT = 0;
  static final int INFO_NAME = 1;
  static final int INFO_DESCRIPTION = 2;
  static final int INFO_BLOCK_SIZE = 3;

  // transmission flags
  static final int TFLAG_HAS_FLAGS = 1;
  static final int TFLAG_READ_ONLY = 1 << 1;
  static final int TFLAG_SEND_FLUSH = 1 << 2;
  static final int TFLAG_SEND_FUA = 1 << 3;
  static final int TFLAG_SEND_TRIM = 1 << 5;
  static final int TFLAG_CAN_MULTI_CONN = 1 << 8;

  // requests and replies
  static final int REQUEST_MAGIC = 0x25609513;
  static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
  static final int REQUEST_HEADER_SIZE = 28;

  static final int CMD_READ = 0;
  static final int CMD_WRITE = 1;
  static final int CMD_DISC = 2;
  static final int CMD_FLUSH = 3;
  static final int CMD_TRIM = 4;

  static final int CMD_FLAG_FUA = 1;

  static final int REPLY_FLAG_DONE = 1;
  static final int REPLY_TYPE_OFFSET_DATA = 1;
  static final int REPLY_TYPE_ERROR = (1 << 15) | 1;

  // errno values carried in replies
  static final int EPERM = 1;
  static final int EIO = 5;
  static final int EINVAL = 22;
  static final int ENOSPC = 28;
  static final int EOVERFLOW = 75;
  static final int ENOTSUP = 95;
  static final int ESHUTDOWN = 108;

  /** Largest payload a client may send or ask for; bigger requests are refused with EINVAL. */
  static final int MAX_PAYLOAD = 32 * 1024 * 1024;
}
