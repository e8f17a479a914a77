// Interrupt: Ctrl-C (SIGINT) and SIGTERM set a flag that long loops check between steps, so a run
// can checkpoint and stop cleanly. A second Ctrl-C stops the process at once.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process-wide "please stop" flag raised by SIGINT or SIGTERM.
public enum Interrupt {
    static let flag = Atomic<Bool>(false)

    /// Installs the handlers (idempotent).
    public static func install() {
        // A parent may have started us with these signals blocked (the mask is inherited); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            if Interrupt.flag.load(ordering: .relaxed) { _exit(130) }
            Interrupt.flag.store(true, ordering: .relaxed)
        }
        signal(SIGTERM) { _ in Interrupt.flag.store(true, ordering: .relaxed) }
    }

    /// True once a stop was requested.
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Raises the flag from code (tests, budgets).
    public static func request() { flag.store(true, ordering: .relaxed) }

    /// Lowers the flag.
    public static func clear() { flag.store(false, ordering: .relaxed) }
}
