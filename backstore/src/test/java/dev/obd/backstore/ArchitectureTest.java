package dev.obd.backstore;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.assignableTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import dev.obd.backstore.device.DeviceException;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The backstore's package rules as docs/ARCHITECTURE.md states them ("Package rules"): packages
 * follow the data flow and never form cycles; the data plane never imports the daemon's surface
 * (control API, daemon, command line); {@code nbd} serves any disk and {@code attach} knows only
 * {@code nbd}; the control server knows only the API's types.
 */
class ArchitectureTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.obd.backstore");

  @Test
  void packagesFormNoCycles() {
    slices().matching("dev.obd.backstore.(*)..").should().beFreeOfCycles().check(CLASSES);
  }

  @Test
  void theDataPlaneNeverImportsTheDaemonsSurface() {
    noClasses()
        .that()
        .resideInAnyPackage(
            "dev.obd.backstore.nbd..",
            "dev.obd.backstore.attach..",
            "dev.obd.backstore.device..",
            "dev.obd.backstore.prefetch..",
            "dev.obd.backstore.config..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "dev.obd.backstore.control..", "dev.obd.backstore.daemon..", "dev.obd.backstore.cli..")
        .because("the data plane serves obdctl's nbd command as well as the daemon")
        .check(CLASSES);
  }

  @Test
  void nbdServesAnyDiskAndAttachKnowsOnlyNbd() {
    usesNoBackstorePackageBut("dev.obd.backstore.nbd..")
        .because("the NBD server serves any VirtualDisk of the image module")
        .check(CLASSES);
    usesNoBackstorePackageBut("dev.obd.backstore.attach..", "dev.obd.backstore.nbd..")
        .because("an attacher makes an NBD server's export a kernel block device, nothing more")
        .check(CLASSES);
  }

  @Test
  void theControlServerKnowsOnlyTheApiTypesAndTheDeviceErrors() {
    noClasses()
        .that()
        .resideInAPackage("dev.obd.backstore.control..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..")
                .and(
                    not(
                        resideInAnyPackage(
                            "dev.obd.backstore.control..", "dev.obd.backstore.api..")))
                .and(not(assignableTo(DeviceException.class))))
        .because(
            "it reaches the devices only through ControlServer.Backend, which the daemon is, and"
                + " maps the device core's exceptions to HTTP statuses")
        .check(CLASSES);
  }

  /**
   * No class of package {@code pkg} uses a backstore package other than its own and {@code also}.
   */
  private static ArchRule usesNoBackstorePackageBut(String pkg, String... also) {
    String[] allowed = Stream.concat(Stream.of(pkg), Stream.of(also)).toArray(String[]::new);
    return noClasses()
        .that()
        .resideInAPackage(pkg)
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..").and(not(resideInAnyPackage(allowed))));
  }
}
