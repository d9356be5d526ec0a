package dev.obd.snapshotter;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The snapshotter's package rules as docs/ARCHITECTURE.md states them ("Package rules"): packages
 * follow the data flow and never form cycles; lower layers never import upper ones; only {@code
 * api} speaks gRPC; the snapshotter uses nothing of the backstore daemon but its API module, and
 * only its {@code device} package uses that.
 */
class ArchitectureTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.obd.snapshotter");

  @Test
  void packagesFormNoCycles() {
    slices().matching("dev.obd.snapshotter.(*)..").should().beFreeOfCycles().check(CLASSES);
  }

  @Test
  void lowerLayersNeverImportUpperOnes() {
    noClasses()
        .that()
        .resideInAnyPackage("..storage..", "..filters..", "..fs..", "..errdefs..", "..config..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("..api..", "..daemon..", "..overlay..", "..cri..")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAnyPackage(
            "..api..", "..overlay..", "..overlaybd..", "..device..", "..snapshots..", "..storage..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("..cri..")
        .because("the CRI image proxy sits beside the Snapshots API; only the daemon wires it in")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAnyPackage("..snapshots..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("..storage..", "..overlay..", "..api..", "..daemon..")
        .because("snapshots is the contract every implementation and the API build on")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAnyPackage("..snapshots..", "..overlay..", "..storage..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("io.grpc..", "dev.obd.proto..")
        .because("only the api package speaks gRPC and protobuf")
        .check(CLASSES);
  }

  @Test
  void theBackstoreIsReachedOnlyThroughItsApiFromTheDevicePackage() {
    noClasses()
        .that()
        .resideInAPackage("dev.obd.snapshotter..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..")
                .and(not(resideInAPackage("dev.obd.backstore.api.."))))
        .because("the snapshotter depends on backstore-api, never on the backstore daemon's code")
        .check(CLASSES);
    noClasses()
        .that()
        .resideOutsideOfPackage("dev.obd.snapshotter.device..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("dev.obd.backstore.api..")
        .because("NbdAttacher is the one client of the backstore's control API")
        .check(CLASSES);
  }
}
