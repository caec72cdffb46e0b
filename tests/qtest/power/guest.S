/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tiny firmware-free guests for the power qtests and the demo, run as the
 * last 64 KiB of a -bios image (segment 0xf000, real mode).  Regenerate
 * guest.h with ./gen-guest.sh after changing this file.
 *
 *   spin: wakes every other vCPU with INIT-SIPI (x2APIC) and spins; the
 *         woken vCPUs start at f000:0000 (ap_spin) and spin too
 *   halt: halts with interrupts off; other vCPUs are never woken
 *   half: busy for one 10 ms LAPIC timer period, halted for the next; it
 *         reaches the LAPIC in xAPIC mode through a 4 GiB FS ("unreal
 *         mode"), since Debian's QEMU 7.2 has no x2APIC under TCG and
 *         test_stock.py runs it there
 *   count: counts loops in the 64-bit word at 0x600 (benchmarks read it)
 *   exit: turns on x2APIC, then writes 0x2a to an isa-debug-exit device at
 *         port 0xf4, so that QEMU exits with status 85 once guest code has
 *         really run (scripts/kvm-probe.sh)
 */
        .code16
        .text
        .globl ap_spin, spin, halt, half, count, exit

ap_spin:                        /* linked at offset 0 of the segment */
        jmp     ap_spin

        .org    0xe000
spin:
        call    x2apic_on
        mov     $0x830, %ecx    /* ICR */
        xor     %edx, %edx
        mov     $0xc4500, %eax  /* INIT, all excluding self */
        wrmsr
        mov     $0xc46f0, %eax  /* SIPI, vector 0xf0: start at f000:0000 */
        wrmsr
1:      jmp     1b

halt:
        cli
1:      hlt
        jmp     1b

half:
        xor     %ax, %ax
        mov     %ax, %ds
        movw    $tick, 0x100    /* IVT entry of vector 0x40 */
        movw    $0xf000, 0x102
        movw    $0, 0x500       /* tick count */
        call    unreal
        addr32 movl $0x1ff, %fs:0xfee000f0      /* spurious vector: enable */
        addr32 movl $0xb, %fs:0xfee003e0        /* timer divide by 1 */
        addr32 movl $0x20040, %fs:0xfee00320    /* LVT timer: periodic, 0x40 */
        addr32 movl $10000000, %fs:0xfee00380   /* initial count: 10 ms at 1 GHz */
        sti
1:      hlt                     /* idle until a tick */
        mov     0x500, %bx
2:      cmp     0x500, %bx      /* busy until the next one */
        je      2b
        jmp     1b

tick:
        incw    %ds:0x500
        addr32 movl $0, %fs:0xfee000b0          /* EOI */
        iret

count:
        xor     %ax, %ax
        mov     %ax, %ds
        movl    $0, 0x600
        movl    $0, 0x604
1:      addl    $1, 0x600
        adcl    $0, 0x604
        jmp     1b

exit:
        call    x2apic_on
        mov     $0x2a, %al
        out     %al, $0xf4
1:      hlt
        jmp     1b

x2apic_on:
        mov     $0x1b, %ecx     /* IA32_APIC_BASE: enable, x2APIC mode */
        rdmsr
        or      $0xc00, %eax
        wrmsr
        ret

/* FS gets base 0 and a 4 GiB limit, which it keeps back in real mode */
unreal:
        lgdtl   %cs:gdt_ptr
        mov     %cr0, %eax
        or      $1, %al
        mov     %eax, %cr0
        mov     $8, %bx
        mov     %bx, %fs
        and     $0xfe, %al
        mov     %eax, %cr0
        ret

        .p2align 3
gdt:    .quad   0
        .quad   0x00cf93000000ffff      /* data, accessed: no write to ROM */
gdt_ptr:
        .word   15
        .long   0xf0000 + gdt

        .org    0xfff0          /* reset vector: jump to the guest */
reset:
        ljmp    $0xf000, $0xe000
        .org    0x10000
