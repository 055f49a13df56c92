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
