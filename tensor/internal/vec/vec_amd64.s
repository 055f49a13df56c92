//go:build amd64 && !purego

#include "textflag.h"

// Go's operand order is the reverse of Intel's: VSUBPS b, a, d is d = a − b.

// func applyAVX2(op Op, d, a, b *float32, n int)
TEXT ·applyAVX2(SB), NOSPLIT, $0-40
	MOVQ op+0(FP), AX
	MOVQ d+8(FP), DI
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), DX
	MOVQ n+32(FP), CX
	SHRQ $3, CX                  // vectors of 8
	JZ   done
	CMPQ AX, $1
	JEQ  sub
	CMPQ AX, $2
	JEQ  mul

add:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     add
	JMP     done

sub:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sub
	JMP     done

mul:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mul

done:
	VZEROUPPER
	RET

// func applyScalarAVX2(op Op, d, a *float32, s float32, n int)
TEXT ·applyScalarAVX2(SB), NOSPLIT, $0-40
	MOVQ         op+0(FP), AX
	MOVQ         d+8(FP), DI
	MOVQ         a+16(FP), SI
	VBROADCASTSS s+24(FP), Y1
	MOVQ         n+32(FP), CX
	SHRQ         $3, CX
	JZ           sdone
	CMPQ         AX, $1
	JEQ          ssub
	CMPQ         AX, $2
	JEQ          smul

sadd:
	VMOVUPS (SI), Y0
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sadd
	JMP     sdone

ssub:
	VMOVUPS (SI), Y0
	VSUBPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     ssub
	JMP     sdone

smul:
	VMOVUPS (SI), Y0
	VMULPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     smul

sdone:
	VZEROUPPER
	RET

// func maxAVX2(lanes *[8]float32, x *float32, n int)
// Intel's VMAXPS dst, src1, src2 returns src2 where either is a NaN (and where both are
// zeros): with the running maximum as src2, a NaN in x leaves it alone, as "if v > m" does.
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ lanes+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	MOVL $0xff800000, AX         // −Inf
	MOVL AX, X1
	VBROADCASTSS X1, Y1

mloop:
	VMOVUPS (SI), Y0
	VMAXPS  Y1, Y0, Y1           // Y1 = max(src1 = x, src2 = Y1)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mloop

	VMOVUPS Y1, (DI)
	VZEROUPPER
	RET
