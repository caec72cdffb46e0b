/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Host power and vCPU work accounting: the hooks the rest of QEMU calls.
 */

#ifndef SYSTEM_POWER_H
#define SYSTEM_POWER_H

#ifdef CONFIG_LINUX
/* Start counting a vCPU's thread; its thread must exist (cpu->created). */
void power_vcpu_attach(CPUState *cpu);
/* Stop counting an unplugged vCPU; its thread must have been joined. */
void power_vcpu_detach(CPUState *cpu);
#else
static inline void power_vcpu_attach(CPUState *cpu)
{
}
static inline void power_vcpu_detach(CPUState *cpu)
{
}
#endif

#endif
