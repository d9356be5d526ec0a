package dev.obd.testsupport.containerd;

import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.UnpackedPackages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One containerd the tests can start: its version, as the binary itself reports it, and the
 * directory holding its {@code containerd}, {@code ctr} and {@code containerd-shim-runc-v2}. The
 * system's (Debian bookworm's 1.6, on PATH) or one of those unpacked from newer Debian suites (see
 * {@link UnpackedPackages}). containerd finds its shim on PATH, so an unpacked one runs with its
 * own directory first on PATH ({@link #environment}); runc is the system's for all of them.
 *
 * @param version {@code major.minor.patch}, e.g. {@code 1.7.24}
 * @param binDir the directory of the three binaries
 */
public record ContainerdInstallation(String version, Path binDir) {
  private static final Pattern VERSION = Pattern.compile("\\s(\\d+)\\.(\\d+)\\.(\\d+)");
  private static final String UNIT_PREFIX = "containerd-";

  /** The system's containerd, on PATH (bookworm: 1.6.20). */
  public static ContainerdInstallation system() {
    Requirements.requireCommand("containerd");
    Requirements.requireCommand("ctr");
    Path containerd = Path.of("/usr/bin/containerd");
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "containerd"))) {
        containerd = Path.of(dir, "containerd");
        break;
      }
    }
    return of(containerd.getParent());
  }

  /**
   * The containerd of unit {@code containerd-<version>} of {@link UnpackedPackages}, e.g. {@code
   * unpacked("1.7.24")}; skips, or fails in CI, when it was not fetched.
   */
  public static ContainerdInstallation unpacked(String version) {
    ContainerdInstallation c =
        of(UnpackedPackages.require(UNIT_PREFIX + version).resolve("usr/bin"));
    if (!c.version.equals(version)) {
      throw new IllegalStateException(
          "unit " + UNIT_PREFIX + version + " holds containerd " + c.version);
    }
    return c;
  }

  /** The system's containerd, then every unpacked one, oldest first: the test matrix. */
  public static List<ContainerdInstallation> matrix() {
    List<ContainerdInstallation> all = new ArrayList<>(List.of(system()));
    for (String unit : UnpackedPackages.units()) {
      if (unit.startsWith(UNIT_PREFIX) && Character.isDigit(unit.charAt(UNIT_PREFIX.length()))) {
        all.add(unpacked(unit.substring(UNIT_PREFIX.length())));
      }
    }
    return all;
  }

  /** Asks {@code binDir/containerd --version} which version it is. */
  static ContainerdInstallation of(Path binDir) {
    Path containerd = binDir.resolve("containerd");
    Containerd.Result r =
        Containerd.run(List.of(containerd.toString(), "--version"), Duration.ofSeconds(30));
    Matcher m = VERSION.matcher(r.output());
    if (r.exit() != 0 || !m.find()) {
      throw new IllegalStateException(containerd + " --version said: " + r.output());
    }
    return new ContainerdInstallation(m.group(1) + "." + m.group(2) + "." + m.group(3), binDir);
  }

  public int major() {
    return Integer.parseInt(version.split("\\.")[0]);
  }

  public int minor() {
    return Integer.parseInt(version.split("\\.")[1]);
  }

  /**
   * The config.toml form it reads: {@code version = 2} for 1.x, {@code version = 3} for 2.x (whose
   * CRI plugin ids are {@code io.containerd.cri.v1.images} and {@code
   * io.containerd.cri.v1.runtime}).
   */
  public int configVersion() {
    return major() >= 2 ? 3 : 2;
  }

  /**
   * Whether it has the transfer service that {@code ctr images pull} uses by default (2.x; 1.7's is
   * experimental and ctr does not use it).
   */
  public boolean pullsThroughTransferService() {
    return major() >= 2;
  }

  public Path containerd() {
    return binDir.resolve("containerd");
  }

  public Path ctr() {
    return binDir.resolve("ctr");
  }

  /** Environment for containerd: its own directory first on PATH, so that it finds its shim. */
  public Map<String, String> environment() {
    return Map.of("PATH", binDir + ":" + System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
  }

  /** E.g. {@code containerd 1.7.24}: for test names and messages. */
  @Override
  public String toString() {
    return "containerd " + version;
  }
}
