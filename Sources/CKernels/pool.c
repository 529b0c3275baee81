// A pool of worker threads for Parallel.forEachChunk (see CKernels.h, tg_pool_run).
//
// libdispatch's concurrentPerform wakes its workers through the kernel for every parallel region and lets them
// sleep again right after; a training step has hundreds of regions of tens of microseconds (a layer norm, a
// GELU, one product split in two), and on the Emerald Rapids VM the wake-ups alone took about 6 % of an MLE epoch's
// main thread (`try_to_wake_up` in perf). Here each worker waits for the next region by spinning for a short while
// (it usually comes within microseconds) and only then sleeps on a condition variable.
//
// One region at a time: a second thread asking while one runs is told no (tg_pool_run returns 0) and runs its
// region another way, so regions never wait for each other.
#include "CKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <immintrin.h>
static inline void relax_cpu(void) { _mm_pause(); }
#else
static inline void relax_cpu(void) {}
#endif

enum { MAX_WORKERS = 63, SPIN_ROUNDS = 4000 };

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;  // held by the thread whose region runs
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static int workers = 0;                    // started so far (only the region's owner starts more)
static uint64_t regions = 0;               // regions run so far (written by the owner only)
static _Atomic int64_t pending = 0;        // chunks of the current region not finished yet
static _Atomic int sleepers = 0;           // workers waiting on `wake`

// Worker i's assignment: the number of the last region that gave it a chunk. Only the workers a region assigns read
// its job, and the owner does not write the next job before they have all finished this one, so no worker ever
// reads a job while it is being written (a worker left out of a region does not even look).
static struct { _Alignas(64) _Atomic uint64_t region; } assigned[MAX_WORKERS];

// The current region, written by its owner before the assignments (release) and read by the assigned workers after
// they see theirs (acquire).
static tg_chunk_function job_function;
static void *job_context;
static unsigned job_control;

static void *worker_main(void *argument) {
    int64_t index = (int64_t)(intptr_t)argument;  // this worker runs chunk index + 1
    uint64_t seen = 0;
    tg_set_parallel_depth(1);  // regions inside a chunk run inline
    unsigned control = tg_fp_control();
    for (;;) {
        uint64_t now = atomic_load_explicit(&assigned[index].region, memory_order_acquire);
        for (int spin = 0; now == seen && spin < SPIN_ROUNDS; spin++) {
            relax_cpu();
            now = atomic_load_explicit(&assigned[index].region, memory_order_acquire);
        }
        if (now == seen) {
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            // Sequentially consistent, with the owner's store and its load of `sleepers`: either it sees this
            // sleeper and wakes it, or this load sees its assignment (a release/acquire pair allows neither).
            while ((now = atomic_load(&assigned[index].region)) == seen) {
                pthread_cond_wait(&wake, &sleep_lock);
            }
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = now;
        if ((control & ~0x3Fu) != (job_control & ~0x3Fu)) {
            control = job_control;
            tg_set_fp_control(control);
        }
        job_function(job_context, index + 1);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return NULL;
}

int tg_pool_run(int64_t chunks, tg_chunk_function function, void *context, unsigned control) {
    if (chunks < 2 || chunks - 1 > MAX_WORKERS) return 0;
    if (pthread_mutex_trylock(&run_lock) != 0) return 0;
    while (workers < chunks - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 8 << 20);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)workers);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        workers++;
    }
    if (workers < chunks - 1) {
        pthread_mutex_unlock(&run_lock);
        return 0;
    }
    job_function = function;
    job_context = context;
    job_control = control;
    atomic_store_explicit(&pending, chunks - 1, memory_order_relaxed);
    regions++;
    for (int64_t i = 0; i < chunks - 1; i++) atomic_store(&assigned[i].region, regions);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    int depth = tg_parallel_depth();
    tg_set_parallel_depth(depth + 1);
    function(context, 0);
    tg_set_parallel_depth(depth);
    for (int64_t spin = 0; atomic_load_explicit(&pending, memory_order_acquire) > 0; spin++) {
        if (spin < 100000) relax_cpu();
        else sched_yield();
    }
    pthread_mutex_unlock(&run_lock);
    return 1;
}
