// overlay-baseline: containerd's own overlayfs snapshotter served as a proxy snapshotter by
// containerd's own gRPC adapter (contrib/snapshotservice). The benchmark baseline: the same API,
// the same client and the same machine as obd-snapshotter, with containerd's Go implementation
// behind it, configured as containerd configures its overlayfs plugin by default: removal is
// asynchronous (directories go at the next Cleanup; containerd 1.6 always does this, 1.7 and 2.x
// unless sync_remove = true). Build it against Debian's golang-github-containerd-containerd-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o overlay-baseline .
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/snapshots/overlay"
	"google.golang.org/grpc"
)

func main() {
	root := flag.String("root", "", "snapshotter root")
	address := flag.String("address", "", "unix socket")
	syncRemove := flag.Bool("sync-remove", false, "delete directories in Remove (containerd's sync_remove)")
	flag.Parse()
	var opts []overlay.Opt
	if !*syncRemove {
		opts = append(opts, overlay.AsynchronousRemove)
	}
	sn, err := overlay.NewSnapshotter(*root, opts...)
	if err != nil {
		log.Fatalf("snapshotter: %v", err)
	}
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(sn))
	if err := os.MkdirAll(filepath.Dir(*address), 0700); err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(*address)
	l, err := net.Listen("unix", *address)
	if err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.GracefulStop()
	}()
	if err := server.Serve(l); err != nil {
		log.Fatal(err)
	}
	sn.Close()
}
