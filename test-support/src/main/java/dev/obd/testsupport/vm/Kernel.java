package dev.obd.testsupport.vm;

import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A Debian 6.1 kernel for {@link QemuVm}: {@code root/boot/vmlinuz-<version>} and its modules under
 * {@code root/lib/modules/<version>}, as the linux-image-amd64 package installs them. The guest
 * shares the host root, so with root "/" the guest's userland (modprobe, for instance) finds the
 * same modules.
 */
public record Kernel(Path root, String version) {

  /**
   * The kernel under {@code -Dobd.vm.kernelRoot} (default "/"), the newest 6.1 whose modules have a
   * modules.dep; skips (fails under obd.test.noSkip) if there is none.
   */
  public static Kernel require() {
    Path root = Path.of(System.getProperty("obd.vm.kernelRoot", "/"));
    Path modules = root.resolve("lib/modules");
    Requirements.require(
        Files.isDirectory(modules),
        "needs a Debian 6.1 kernel's modules under " + modules + " (package linux-image-amd64)");
    List<String> versions;
    try (Stream<Path> s = Files.list(modules)) {
      versions =
          s.map(p -> p.getFileName().toString())
              .filter(
                  n ->
                      n.startsWith("6.1.")
                          && Files.exists(modules.resolve(n).resolve("modules.dep")))
              .sorted(Comparator.reverseOrder())
              .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("list " + modules, e);
    }
    Requirements.require(
        !versions.isEmpty(),
        "needs a Debian 6.1 kernel's modules (with modules.dep) under "
            + modules
            + " (package linux-image-amd64)");
    Kernel kernel = new Kernel(root, versions.get(0));
    Requirements.require(
        Files.isRegularFile(kernel.image()), "needs the 6.1 kernel image " + kernel.image());
    return kernel;
  }

  public Path image() {
    return root.resolve("boot/vmlinuz-" + version);
  }

  /**
   * The module files to insmod, in load order: each of {@code names} after its dependencies (as
   * {@code modprobe -D} resolves them), each file once.
   */
  List<Path> modulesWithDependencies(List<String> names) {
    List<Path> order = new ArrayList<>();
    for (String m : names) {
      String deps =
          Mounts.run(List.of("modprobe", "-d", root.toString(), "-S", version, "-D", m), null);
      for (String line : deps.split("\n")) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 2 && f[0].equals("insmod") && !order.contains(Path.of(f[1]))) {
          order.add(Path.of(f[1]));
        }
      }
    }
    return order;
  }
}
