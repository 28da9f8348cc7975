"""Test support shared by the test trees and the benchmarks."""
