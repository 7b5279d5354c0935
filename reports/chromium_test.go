package reports

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/faultline/faultline/internal/testtool"
)

// chromium runs headless Chromium with args in its own process group and
// kills the whole group when it returns or the deadline passes, so no
// renderer or zygote outlives the test.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Start()
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	err = cmd.Wait()
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // helpers left in the group
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within the deadline\nstderr tail:\n%s", Tail(stderr.String(), 20))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || stdout.Len() == 0 {
			t.Fatalf("chromium: %v\nstderr tail:\n%s", err, Tail(stderr.String(), 20))
		}
	}
	return stdout.Bytes()
}

// TestChromiumRendersReport opens a generated report in headless Chromium:
// the DOM Chromium builds must hold the summary rows and the timeline SVG,
// and a screenshot must show a real, coloured page.
func TestChromiumRendersReport(t *testing.T) {
	bin := testtool.Require(t, "chromium", "chromium")
	dir, run := regeneratedSample(t)
	url := "file://" + filepath.Join(dir, HTMLFile)

	t.Run("dom", func(t *testing.T) {
		dom := chromium(t, bin, "--dump-dom", url)
		d := parseReport(t, dom)
		rows := all(d.root, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-scenario") != "" })
		if len(rows) != len(run.Scenarios) {
			t.Fatalf("Chromium DOM has %d summary rows, want %d (dump %d bytes)", len(rows), len(run.Scenarios), len(dom))
		}
		if got := text(all(rows[1], tag("td"))[0]); got != run.Scenarios[1].Name {
			t.Errorf("second row = %q", got)
		}
		svgs := all(d.root, tagClass("svg", "tl"))
		if len(svgs) != 2 {
			t.Fatalf("Chromium DOM has %d timeline pictures, want 2", len(svgs))
		}
		if n := len(all(svgs[1], tagClass("rect", "fault-band"))); n != 50 {
			t.Errorf("%d fault bands in Chromium's DOM, want 50", n)
		}
		if n := len(all(svgs[1], tagClass("g", "lane"))); n != 9 {
			t.Errorf("%d lanes in Chromium's DOM, want 9", n)
		}
		if n := len(all(svgs[1], tagClass("rect", "seg"))); n < 100 {
			t.Errorf("only %d state/fault segments in Chromium's DOM", n)
		}
		if len(all(d.root, tag("script"))) != 0 {
			t.Error("Chromium's DOM holds a script element")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "report.png")
		chromium(t, bin, "--screenshot="+shot, "--window-size=1400,2000", url)
		fi, err := os.Stat(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		if fi.Size() < 40<<10 {
			t.Errorf("screenshot is only %d bytes", fi.Size())
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 2000 {
			t.Errorf("screenshot is %v, want 1400x2000", b)
		}
		colours := map[[3]uint32]bool{}
		found := map[string]bool{}
		want := map[string][3]uint32{"fail": rgb(colBad), "pass": rgb(colGood), "header": rgb("#1f2933")}
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
				c := pixel(img, x, y)
				colours[c] = true
				for name, w := range want {
					if near(c, w) {
						found[name] = true
					}
				}
			}
		}
		if len(colours) < 20 {
			t.Errorf("screenshot has only %d colours: blank or unstyled", len(colours))
		}
		for name := range want {
			if !found[name] {
				t.Errorf("screenshot shows no %s colour %v", name, want[name])
			}
		}
	})
}

func pixel(img image.Image, x, y int) [3]uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

func rgb(hex string) [3]uint32 {
	hex = strings.TrimPrefix(hex, "#")
	var c [3]uint32
	for i := range 3 {
		var v uint32
		for _, ch := range hex[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= uint32(ch - '0')
			default:
				v |= uint32(ch-'a') + 10
			}
		}
		c[i] = v
	}
	return c
}

func near(a, b [3]uint32) bool {
	for i := range 3 {
		d := int(a[i]) - int(b[i])
		if d < -6 || d > 6 {
			return false
		}
	}
	return true
}
