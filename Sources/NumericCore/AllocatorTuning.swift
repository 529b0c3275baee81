import CKernels

/// glibc's malloc serves allocations above its mmap threshold (≥ 128 KiB at first) with fresh mmap'd pages and
/// returns them on free; a training step allocates and frees multi-megabyte tensors (a batch of logits is 25 MB),
/// so every step faults its pages in again: about two million minor page faults per SeqGAN MLE epoch, a third of its
/// time in the kernel. Raising the thresholds keeps freed buffers in the heap for reuse (the PyTorch reference in
/// ../shared/bench does the same). Call once at start-up; a no-op where glibc's mallopt is unavailable.
public enum AllocatorTuning {
    /// Returns whether the tuning was applied (false where glibc's mallopt is unavailable).
    @discardableResult
    public static func keepLargeBuffers() -> Bool { tg_keep_large_buffers() == 1 }
}

/// Standard output as long-running commands need it.
public enum StandardOutput {
    /// Line-buffers stdout even into a pipe or file, so progress printed by `print` appears as it happens
    /// (`textgan train … | tee log`). Call once at start-up, before anything is printed.
    public static func lineBuffered() { tg_line_buffer_stdout() }
}
