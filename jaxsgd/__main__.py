from jaxsgd._entry import main

main()
