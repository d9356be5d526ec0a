// Runs containerd's own snapshotter conformance suite (snapshots/testsuite, from Debian's
// golang-github-containerd-containerd-dev: 1.6 or 1.7, same import paths) against obd-snapshotter
// through containerd's proxy client, exactly as containerd talks to a proxy plugin. Each sub-test
// gets a fresh daemon.
//
// Environment: OBD_JAVA (java binary), OBD_CLASSPATH (the daemon's class path).
package conformance

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

func TestObdSnapshotterConformance(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the suite mounts snapshots")
	}
	java, cp := os.Getenv("OBD_JAVA"), os.Getenv("OBD_CLASSPATH")
	if java == "" || cp == "" {
		t.Fatal("OBD_JAVA and OBD_CLASSPATH must be set")
	}
	// The suite keys its overlayfs expectations on this name: 1.7's Rename check renames a directory
	// of a lower layer, which overlayfs without redirect_dir refuses (EXDEV; image tools copy
	// instead), except for a snapshotter named overlayfs. obd-snapshotter's ordinary layers are
	// overlayfs mounts, so it is told the truth.
	testsuite.SnapshotterSuite(t, "overlayfs", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		socket := filepath.Join(filepath.Dir(root), "obd.sock")
		logFile, err := os.Create(filepath.Join(filepath.Dir(root), "daemon.log"))
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(java, "-cp", cp, "dev.obd.snapshotter.Main",
			"--root", root, "--address", socket, "--log-level", "debug")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		var waitErr error
		exited := make(chan struct{})
		go func() { waitErr = cmd.Wait(); close(exited) }()
		stop := func() error {
			defer logFile.Close()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
				if waitErr != nil {
					return fmt.Errorf("daemon exited with %v", waitErr)
				}
				return nil
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				return fmt.Errorf("daemon did not stop within 30s of SIGTERM")
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case <-exited:
				log, _ := os.ReadFile(logFile.Name())
				return nil, nil, fmt.Errorf("daemon exited before serving %s:\n%s", socket, log)
			default:
			}
			if c, err := net.Dial("unix", socket); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				stop()
				log, _ := os.ReadFile(logFile.Name())
				return nil, nil, fmt.Errorf("daemon not serving %s after 60s:\n%s", socket, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
		conn, err := grpc.Dial("unix://"+socket, grpc.WithInsecure())
		if err != nil {
			stop()
			return nil, nil, err
		}
		sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "obd")
		return sn, func() error {
			conn.Close()
			return stop()
		}, nil
	})
}
