package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// audience is the websocket subscribers a run keeps open.
type audience interface {
	// frames is how many frames they have received in all.
	frames() int64
	close()
}

type local []*subscriber

func (l local) frames() int64 {
	var n int64
	for _, s := range l {
		n += s.frames.Load()
	}
	return n
}

func (l local) close() {
	var wg sync.WaitGroup
	for _, s := range l {
		wg.Go(s.close)
	}
	wg.Wait()
}

const backlogSubscription = `subscription { backlogChanged { total stages { stage count } } }`

// dialAll opens n backlog subscribers, subscriber i on urls[i%len(urls)].
func dialAll(urls []string, token string, n int) (local, error) {
	subs := make(local, 0, n)
	for i := range n {
		s, err := dial(urls[i%len(urls)], token)
		if err != nil {
			subs.close()
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		if _, err := s.subscribe("b", backlogSubscription, nil, false); err != nil {
			subs.close()
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		subs = append(subs, s)
	}
	return subs, nil
}

// openSubscribers opens n backlog subscribers and returns them with the
// heap they cost this process, per subscription. With command set they
// run in a process of their own (command, then the node URLs; the token in
// TOWER_BENCH_TOKEN), so the heap is the nodes' side alone and each process
// needs one file descriptor per subscriber, not two; else here, and the
// heap counts both ends.
func openSubscribers(command []string, urls []string, token string, n int, step func(string, ...any)) (audience, float64, error) {
	if n == 0 {
		return local(nil), 0, nil
	}
	where := "in this process"
	if len(command) > 0 {
		where = "in a process of their own"
	}
	step("opening %d websocket subscribers (backlogChanged) %s", n, where)
	runtime.GC() // garbage of the phases before is not the subscribers'
	before := heapInUse()
	var a audience
	var err error
	if len(command) > 0 {
		a, err = startRemote(command, urls, token, n)
	} else {
		a, err = dialAll(urls, token, n)
	}
	if err != nil {
		return nil, 0, err
	}
	time.Sleep(500 * time.Millisecond) // every subscription registered
	runtime.GC()
	// Signed: with a few subscribers the heap may have shrunk meanwhile.
	per := max(0, float64(int64(heapInUse())-int64(before))) / float64(n)
	sides := "client and server sides together"
	if len(command) > 0 {
		sides = "the nodes' side"
	}
	step("  %d open, %.1f KiB of heap each (%s)", n, per/1024, sides)
	return a, per, nil
}

// remote is subscribers in a child process (ServeSubscribers), spoken to
// by lines: it says "open" once all are, answers "frames" with their
// count, and closes them all when its input ends.
type remote struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	mu  sync.Mutex
}

func startRemote(command, urls []string, token string, n int) (*remote, error) {
	args := append(append(append([]string{}, command[1:]...), "-n", strconv.Itoa(n)), urls...)
	cmd := exec.Command(command[0], args...)
	cmd.Env = append(os.Environ(), "TOWER_BENCH_TOKEN="+token)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the subscribers' process: %w", err)
	}
	r := &remote{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := r.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "open" {
		r.close()
		return nil, fmt.Errorf("the subscribers' process: %q %v", strings.TrimSpace(line), err)
	}
	return r, nil
}

func (r *remote) frames() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.in, "frames\n"); err != nil {
		return 0
	}
	line, err := r.out.ReadString('\n')
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "frames "), 10, 64)
	return n
}

func (r *remote) close() {
	_ = r.in.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// ServeSubscribers is the child's side of remote: it opens n backlog
// subscribers round robin over urls, says "open" on out, answers each
// "frames" line on in, and closes them once in ends.
func ServeSubscribers(urls []string, token string, n int, in io.Reader, out io.Writer) error {
	if len(urls) == 0 || n <= 0 {
		return errors.New("bench subscribers: node URLs and a count are needed")
	}
	subs, err := dialAll(urls, token, n)
	if err != nil {
		fmt.Fprintf(out, "error %v\n", err)
		return err
	}
	defer subs.close()
	fmt.Fprintln(out, "open")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "frames" {
			fmt.Fprintf(out, "frames %d\n", subs.frames())
		}
	}
	return nil
}
