"""PyTorch reference for `cargo run --release -p histo-ssl-cr --example step_timing`.

The same step on the CPU: a ResNet-18 trunk of width W (torchvision layout, widths W, 2W, 4W,
8W), the TripletNet pair head Linear(2F, 8W) -> ReLU -> Linear(8W, 4W) applied to [E; E], the
768-style embedding [f; f; f] and Linear(12W, 9), cross-entropy, backward, Adam (coupled L2
1e-4), on a batch of 3*B images of SIZE pixels in 0-255; then an eval-mode forward. Prints the
median of 7 repetitions, like the Rust example. Two threads, as the project machine.

    python step_timing_torch.py [WIDTH] [SIZE] [BATCH]
"""
import sys
import time

import torch
from torch import nn

torch.set_num_threads(2)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class Net(nn.Module):
    def __init__(self, w, classes=9):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        layers, cin = [], w
        for i, c in enumerate([w, 2 * w, 4 * w, 8 * w]):
            layers += [Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*layers)
        f = 8 * w
        self.fc = nn.Sequential(nn.Linear(2 * f, 8 * w), nn.ReLU(), nn.Linear(8 * w, 4 * w))
        self.cls = nn.Linear(12 * w, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 3, 2, 1)
        e = self.layers(x).mean((2, 3))
        f = self.fc(torch.cat([e, e], 1))
        return self.cls(torch.cat([f, f, f], 1))


def main():
    a = [int(v) for v in sys.argv[1:]]
    w, size, batch = (a + [16, 64, 16][len(a):])[:3]
    torch.manual_seed(1)
    net = Net(w)
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    x = torch.rand(3 * batch, 3, size, size) * 255
    y = torch.zeros(3 * batch, dtype=torch.long)
    step, ev = [], []
    for _ in range(7):
        net.train()
        t = time.perf_counter()
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step.append(time.perf_counter() - t)
        net.eval()
        t = time.perf_counter()
        with torch.no_grad():
            net(x)
        ev.append(time.perf_counter() - t)
    med = lambda v: sorted(v)[len(v) // 2]
    n = 3 * batch
    print(f"torch {torch.__version__}: width {w}, {size} px, {n} images per step (median of 7)")
    print(f"  train step (fwd + bwd + Adam):   {1e3 * med(step):.1f} ms ({n / med(step):.0f} images/s)")
    print(f"  eval forward:                    {1e3 * med(ev):.1f} ms ({n / med(ev):.0f} images/s)")


if __name__ == "__main__":
    main()
