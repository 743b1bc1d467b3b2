/*
 * flash_model.S - links a model file into flash, read in place by the
 * inference hooks, and its SHA-256, which the agent reports for it. Built
 * only when the harness is given one:
 *   -DTP_FLASH_MODEL='"path/to/model.bin"' -DTP_FLASH_MODEL_SHA256=0x12,0x34,...
 */
    .section .rodata.tp_flash_model, "a"
    .balign 32
    .global tp_flash_model
tp_flash_model:
    .incbin TP_FLASH_MODEL
    .global tp_flash_model_end
tp_flash_model_end:

    .section .rodata.tp_flash_model_sha256, "a"
    .global tp_flash_model_sha256
tp_flash_model_sha256:
    .byte TP_FLASH_MODEL_SHA256
