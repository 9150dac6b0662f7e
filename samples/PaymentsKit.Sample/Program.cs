Console.WriteLine("PaymentsKit sample");
