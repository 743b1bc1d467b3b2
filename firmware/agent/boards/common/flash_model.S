/*
 * flash_model.S - links a model file into flash, read in place by the
 * inference hooks. Built only when the harness is given one:
 *   -DTP_FLASH_MODEL='"path/to/model.bin"'
 */
    .section .rodata.tp_flash_model, "a"
    .balign 32
    .global tp_flash_model
tp_flash_model:
    .incbin TP_FLASH_MODEL
    .global tp_flash_model_end
tp_flash_model_end:
