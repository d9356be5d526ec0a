package dev.obd.image.erofs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The EROFS metadata writer and reader without the kernel: a tree of every inode type read back as
 * written, the same bytes for the same tree, clear refusals. (ConverterTest mounts what the
 * converter writes with the kernel's EROFS and checks it with erofs-utils.)
 */
class ErofsImageTest {
  @TempDir Path tmp;

  private static ErofsNode node(int mode, long mtime) {
    ErofsNode n = ErofsNode.of(mode);
    n.uid = 1000;
    n.gid = 100;
    n.mtime = mtime;
    n.mtimeNanos = 123_456_789;
    return n;
  }

  private static ErofsNode tree() {
    ErofsNode root = node(ErofsFormat.S_IFDIR | 0755, 1_600_000_000L);
    ErofsNode etc = node(ErofsFormat.S_IFDIR | 0700, -5);
    root.children.put("etc", etc);
    ErofsNode file = node(ErofsFormat.S_IFREG | 04755, 7);
    file.size = 10_000;
    file.dataBlock = 3;
    file.xattrs.put("security.capability", new byte[] {1, 0, 0, 2, (byte) 0x80});
    file.xattrs.put("user.note", "x".repeat(300).getBytes(StandardCharsets.UTF_8));
    file.xattrs.put("trusted.overlay.opaque", "y".getBytes(StandardCharsets.UTF_8));
    file.xattrs.put("system.posix_acl_access", new byte[] {2, 0, 0, 0});
    etc.children.put("tool", file);
    root.children.put("hard", file); // a hard link: the same inode under two names
    ErofsNode empty = node(ErofsFormat.S_IFREG | 0644, 0);
    etc.children.put("empty", empty);
    ErofsNode shortLink = node(ErofsFormat.S_IFLNK | 0777, 1);
    shortLink.linkTarget = "/etc/tool".getBytes(StandardCharsets.UTF_8);
    root.children.put("link", shortLink);
    ErofsNode longLink = node(ErofsFormat.S_IFLNK | 0777, 1);
    longLink.linkTarget = "d/".repeat(2040).getBytes(StandardCharsets.UTF_8);
    root.children.put("long-link", longLink);
    ErofsNode dev = node(ErofsFormat.S_IFCHR | 0660, 2);
    dev.rdevMajor = 300;
    dev.rdevMinor = 70_000;
    root.children.put("dev", dev);
    root.children.put("fifo", node(ErofsFormat.S_IFIFO | 0600, 3));
    root.children.put("sock", node(ErofsFormat.S_IFSOCK | 0600, 4));
    ErofsNode many = node(ErofsFormat.S_IFDIR | 0755, 5);
    root.children.put("many", many);
    for (int i = 0; i < 400; i++) {
      ErofsNode f = node(ErofsFormat.S_IFREG | 0644, i);
      f.size = i;
      f.dataBlock = 5 + i;
      many.children.put("n\u00e9-" + i, f);
    }
    root.children.put("!first", node(ErofsFormat.S_IFDIR | 0755, 6)); // sorts before "."
    return root;
  }

  private Path write(ErofsNode root, String name, long firstFree) throws IOException {
    Path img = tmp.resolve(name);
    try (FileChannel ch =
        FileChannel.open(
            img,
            StandardOpenOption.CREATE_NEW,
            StandardOpenOption.READ,
            StandardOpenOption.WRITE)) {
      ErofsImage.write(ch, root, firstFree);
    }
    return img;
  }

  private static ErofsImage.Read read(Path img) throws IOException {
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
      return ErofsImage.read(ch);
    }
  }

  @Test
  void everyInodeTypeReadsBackAsWrittenWithHardLinksShared() throws Exception {
    ErofsNode root = tree();
    Path img = write(root, "a.img", 500);
    ErofsImage.Read r = read(img);
    assertThat(r.blocks() * ErofsFormat.BLOCK).isEqualTo(Files.size(img));
    assertSame(root, r.root(), "/", new IdentityHashMap<>());
    assertThat(r.root().children.get("hard"))
        .isSameAs(r.root().children.get("etc").children.get("tool"));
  }

  @Test
  void theSameTreeGivesTheSameBytesAndAReadTreeWritesThemAgain() throws Exception {
    byte[] a = Files.readAllBytes(write(tree(), "a.img", 500));
    byte[] b = Files.readAllBytes(write(tree(), "b.img", 500));
    assertThat(b).isEqualTo(a);
    ErofsNode again = read(tmp.resolve("a.img")).root();
    assertThat(Files.readAllBytes(write(again, "c.img", 500))).isEqualTo(a);
  }

  @Test
  void attributesWithoutAnErofsPrefixAndForeignImagesAreRefusedWithTheReason() throws Exception {
    ErofsNode root = tree();
    root.xattrs.put("system.nfs4_acl", new byte[] {1});
    assertThatThrownBy(() -> write(root, "bad.img", 1))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("system.nfs4_acl");
    Path junk = Files.write(tmp.resolve("junk.img"), new byte[8192]);
    assertThatThrownBy(() -> read(junk)).hasMessageContaining("no EROFS superblock");
  }

  private static void assertSame(
      ErofsNode want, ErofsNode got, String path, Map<ErofsNode, ErofsNode> seen) {
    ErofsNode before = seen.put(want, got);
    if (before != null) {
      assertThat(got).as(path + " is the same inode as before").isSameAs(before);
      return;
    }
    assertThat(got.mode).as(path + " mode").isEqualTo(want.mode);
    assertThat(got.uid).as(path).isEqualTo(want.uid);
    assertThat(got.gid).as(path).isEqualTo(want.gid);
    assertThat(got.mtime).as(path + " mtime").isEqualTo(want.mtime);
    assertThat(got.mtimeNanos).as(path).isEqualTo(want.mtimeNanos);
    assertThat(got.xattrs.keySet()).as(path).containsExactlyElementsOf(want.xattrs.keySet());
    for (String k : want.xattrs.keySet()) {
      assertThat(got.xattrs.get(k)).as(path + " " + k).isEqualTo(want.xattrs.get(k));
    }
    if (want.isDirectory()) {
      assertThat(got.children.keySet()).as(path).containsExactlyElementsOf(want.children.keySet());
      for (String c : want.children.keySet()) {
        assertSame(want.children.get(c), got.children.get(c), path + c + "/", seen);
      }
    } else if (want.isRegularFile()) {
      assertThat(got.size).as(path).isEqualTo(want.size);
      assertThat(got.dataBlock).as(path).isEqualTo(want.size == 0 ? 0 : want.dataBlock);
    } else if (want.isSymlink()) {
      assertThat(got.linkTarget).as(path).isEqualTo(want.linkTarget);
    } else if (want.isDevice()) {
      assertThat(got.rdevMajor).as(path).isEqualTo(want.rdevMajor);
      assertThat(got.rdevMinor).as(path).isEqualTo(want.rdevMinor);
    }
  }
}
