"""rmtctl: the control plane (targets sim and kernel)."""
