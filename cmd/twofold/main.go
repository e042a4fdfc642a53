// Command twofold runs the Twofold MFA server.
//
//	twofold                   serve (configuration from TWOFOLD_* variables)
//	twofold rotate-seal-key   re-seal every factor secret under TWOFOLD_SEAL_KEY,
//	                          reading those sealed under TWOFOLD_SEAL_KEYS_OLD
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "twofold:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := server.ConfigFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return server.Run(ctx, cfg)
	case "rotate-seal-key":
		n, err := server.RotateSealKey(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Printf("re-sealed %d secrets under key %s\n", n, mfa.KeyID(cfg.SealKey))
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve or rotate-seal-key)", cmd)
}
