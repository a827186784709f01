"""The one line a failed compile or load adds to its probe's error (probes/base.py _last_error_line)."""

from ebpftop.probes.base import _last_error_line

# The tail of the compiler child's stderr when the kernel's verifier refused files.bpf.c with a read
# through a scalar inserted in fd_owner() (EBPFTOP_BPF_DIR on a modified copy; captured 2026-12-02).
VERIFIER_LOG = """\
; int zero = 0; @ main.c:125
192: (63) *(u32 *)(r10 -112) = r1     ; R1=0 R10=fp0 fp-112=mmmm0
; if (tgid == 4242424) return *(volatile u32 *)(long)tgid; @ main.c:126
194: (55) if r8 != 0x40bbf8 goto pc+49        ; R8=0x40bbf8
195: (b7) r1 = 4242424                ; R1=0x40bbf8
196: (61) r1 = *(u32 *)(r1 +0)
R1 invalid mem access 'scalar'
processed 78 insns (limit 1000000) max_states_per_insn 0 total_states 6 peak_states 6 mark_read 0
"""


def test_a_verifier_rejection_gives_its_reason_not_its_statistics() -> None:
    assert _last_error_line(VERIFIER_LOG) == "R1 invalid mem access 'scalar'"


def test_a_compile_error_gives_the_compilers_first_error_line() -> None:
    text = (
        "In file included from /virtual/main.c:2:\n"
        "/virtual/main.c:113:5: error: use of undeclared identifier 'this_is_a_typo'\n"
        "    this_is_a_typo;\n"
        "/virtual/main.c:200:1: error: expected '}'\n"
        "2 errors generated.\n"
    )
    assert _last_error_line(text) == "/virtual/main.c:113:5: error: use of undeclared identifier 'this_is_a_typo'"


def test_only_statistics_or_nothing() -> None:
    only = "processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"
    assert _last_error_line(only) == only
    assert _last_error_line("\n  \n") == ""
